//! End-to-end: the real kubectl against `k3rs server --disable-agent`, for the
//! commands that need no running containers. Output is asserted, not just exit codes.

mod common;

use std::time::Duration;

use common::{TestServer, eventually, path_str};
use serde_json::Value;

const LIVENESS_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  labels:
    test: liveness
  name: liveness-http
spec:
  containers:
  - name: liveness
    image: registry.k8s.io/e2e-test-images/agnhost:2.40
    args:
    - liveness
    livenessProbe:
      httpGet:
        path: /healthz
        port: 8080
        httpHeaders:
        - name: Custom-Header
          value: Awesome
      initialDelaySeconds: 3
      periodSeconds: 3
"#;

#[test]
fn version_discovery_and_api_resources() {
    let s = TestServer::start();
    let v: Value = serde_json::from_str(&s.ok(&["version", "-o", "json"])).unwrap();
    assert_eq!(v["serverVersion"]["major"], "1");
    assert_eq!(v["serverVersion"]["minor"], "33");
    assert!(v["serverVersion"]["gitVersion"].as_str().unwrap().starts_with("v1.33."));

    let out = s.ok(&["api-resources"]);
    let line = out.lines().find(|l| l.starts_with("deployments ")).expect("deployments listed");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols, vec!["deployments", "deploy", "apps/v1", "true", "Deployment"]);
    for res in [
        "pods",
        "services",
        "configmaps",
        "customresourcedefinitions",
        "horizontalpodautoscalers",
        "leases",
        "endpointslices",
        "poddisruptionbudgets",
        "storageclasses",
        "clusterroles",
    ] {
        assert!(out.lines().any(|l| l.starts_with(&format!("{res} "))), "{res} missing from api-resources:\n{out}");
    }
    let ns = s.ok(&["get", "namespaces", "-o", "name"]);
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(&format!("namespace/{n}")), "{ns}");
    }
    let svc = s.get_json(&["service", "kubernetes", "-n", "default"]);
    assert_eq!(svc["spec"]["clusterIP"], "10.43.0.1");
}

#[test]
fn apply_twice_then_server_side() {
    let s = TestServer::start();
    let f = s.manifest("pod.yaml", LIVENESS_POD);
    let out = s.kubectl(&["apply", "-f", path_str(&f)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pod/liveness-http created");
    assert!(out.stderr.is_empty(), "apply printed warnings: {}", String::from_utf8_lossy(&out.stderr));

    // Pods allow only a few changes (the image among them), as upstream.
    let changed = s.manifest("pod2.yaml", &LIVENESS_POD.replace("agnhost:2.40", "agnhost:2.41"));
    let out = s.kubectl(&["apply", "-f", path_str(&changed)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pod/liveness-http configured");
    assert!(out.stderr.is_empty(), "apply printed warnings: {}", String::from_utf8_lossy(&out.stderr));
    let pod = s.get_json(&["pod", "liveness-http"]);
    assert_eq!(pod["spec"]["containers"][0]["image"], "registry.k8s.io/e2e-test-images/agnhost:2.41");
    assert_eq!(pod["spec"]["containers"][0]["livenessProbe"]["periodSeconds"], 3);
    assert_eq!(pod["spec"]["containers"][0]["livenessProbe"]["timeoutSeconds"], 1, "probe defaults applied");
    assert_eq!(pod["spec"]["restartPolicy"], "Always");
    assert!(pod["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].is_string());
    // Unchanged apply is a no-op.
    assert_eq!(s.ok(&["apply", "-f", path_str(&changed)]).trim(), "pod/liveness-http unchanged");
    // A forbidden pod change gets upstream's message.
    let forbidden = s.manifest("pod3.yaml", &LIVENESS_POD.replace("periodSeconds: 3", "periodSeconds: 5"));
    let err = s.fails(&["apply", "-f", path_str(&forbidden)]);
    assert!(err.contains("pod updates may not change fields other than"), "{err}");

    let deploy = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ssa
spec:
  replicas: 2
  selector:
    matchLabels: {app: ssa}
  template:
    metadata:
      labels: {app: ssa}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"#;
    let f = s.manifest("ssa.yaml", deploy);
    assert_eq!(s.ok(&["apply", "--server-side", "-f", path_str(&f)]).trim(), "deployment.apps/ssa serverside-applied");
    let d = s.get_json(&["deployment", "ssa", "--show-managed-fields"]);
    let mf = d["metadata"]["managedFields"].as_array().expect("managedFields");
    assert!(mf.iter().any(|e| e["manager"] == "kubectl" && e["operation"] == "Apply"), "{mf:?}");
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate", "defaults applied");
    // Another manager changes replicas; applying a different value then conflicts.
    s.ok(&["scale", "deployment", "ssa", "--replicas=3"]);
    let f2 = s.manifest("ssa2.yaml", &deploy.replace("replicas: 2", "replicas: 4"));
    let err = s.fails(&["apply", "--server-side", "-f", path_str(&f2)]);
    assert!(err.contains("conflict") && err.contains(".spec.replicas"), "{err}");
    assert_eq!(
        s.ok(&["apply", "--server-side", "--force-conflicts", "-f", path_str(&f2)]).trim(),
        "deployment.apps/ssa serverside-applied"
    );
    assert_eq!(s.get_json(&["deployment", "ssa"])["spec"]["replicas"], 4);
}

#[test]
fn typed_creates_send_protobuf() {
    let s = TestServer::start();
    assert_eq!(
        s.ok(&["create", "deployment", "web", "--image=nginx:1.27", "--replicas=2"]).trim(),
        "deployment.apps/web created"
    );
    let d = s.get_json(&["deployment", "web"]);
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "web");

    assert_eq!(s.ok(&["create", "service", "clusterip", "web", "--tcp=5000:5000"]).trim(), "service/web created");
    let svc = s.get_json(&["service", "web"]);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 5000);
    assert_eq!(svc["spec"]["selector"]["app"], "web");
    let ip = svc["spec"]["clusterIP"].as_str().unwrap();
    assert!(ip.starts_with("10.43.") && ip != "10.43.0.1", "{ip}");

    assert_eq!(
        s.ok(&["create", "ingress", "web", "--rule=/=web:5000"]).trim(),
        "ingress.networking.k8s.io/web created"
    );
    let ing = s.get_json(&["ingress", "web"]);
    assert_eq!(ing["spec"]["rules"][0]["http"]["paths"][0]["pathType"], "Exact");
    assert_eq!(ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"], 5000);

    let err = s.fails(&["create", "deployment", "web", "--image=nginx"]);
    assert!(err.contains("deployments.apps \"web\" already exists"), "{err}");

    s.ok(&["create", "configmap", "cfg", "--from-literal=a=1", "--from-literal=b=two"]);
    assert_eq!(s.get_json(&["configmap", "cfg"])["data"]["b"], "two");
    s.ok(&["create", "secret", "generic", "sec", "--from-literal=password=hunter2"]);
    assert_eq!(s.get_json(&["secret", "sec"])["data"]["password"], "aHVudGVyMg==");
    s.ok(&["create", "namespace", "team-a"]);
    s.ok(&["create", "service", "nodeport", "np", "--tcp=80:8080"]);
    let np = s.get_json(&["service", "np"]);
    let port = np["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    assert!((30000..=32767).contains(&port), "{port}");
    s.ok(&["autoscale", "deployment", "web", "--cpu-percent=50", "--min=2", "--max=10"]);
    let hpa = s.get_json(&["hpa", "web"]);
    assert_eq!(hpa["spec"]["maxReplicas"], 10);
}

#[test]
fn get_output_formats_and_selectors() {
    let s = TestServer::start();
    let f = s.manifest("pod.yaml", LIVENESS_POD);
    s.ok(&["apply", "-f", path_str(&f)]);
    s.ok(&["create", "deployment", "web", "--image=nginx:1.27", "--replicas=2"]);

    let out = s.ok(&["get", "pods"]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], &["liveness-http", "0/1", "Pending", "0"]);

    let wide = s.ok(&["get", "pods", "-o", "wide"]);
    let header = wide.lines().next().unwrap();
    for col in ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"] {
        assert!(header.contains(col), "{header}");
    }
    let deploy = s.ok(&["get", "deployments", "-o", "wide"]);
    let header: Vec<&str> = deploy.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]);
    assert!(deploy.lines().nth(1).unwrap().contains("0/2"), "{deploy}");
    assert!(deploy.contains("nginx:1.27") && deploy.contains("app=web"), "{deploy}");

    let all = s.ok(&["get", "pods", "-A"]);
    assert!(all.lines().nth(1).unwrap().starts_with("default "), "namespace column filled: {all}");
    let labels = s.ok(&["get", "pods", "--show-labels"]);
    assert!(labels.contains("test=liveness"), "{labels}");
    let l = s.ok(&["get", "pods", "-L", "test"]);
    assert!(l.lines().next().unwrap().contains("TEST") && l.contains("liveness"), "{l}");

    assert_eq!(s.ok(&["get", "pod", "liveness-http", "-o", "name"]).trim(), "pod/liveness-http");
    assert_eq!(s.ok(&["get", "pod", "liveness-http", "-o", "jsonpath={.spec.containers[0].name}"]), "liveness");
    let yaml = s.ok(&["get", "pod", "liveness-http", "-o", "yaml"]);
    assert!(yaml.contains("kind: Pod") && yaml.contains("name: liveness-http"), "{yaml}");
    let cc = s.ok(&["get", "pods", "-o", "custom-columns=N:.metadata.name,IMG:.spec.containers[0].image"]);
    assert!(cc.contains("liveness-http") && cc.contains("agnhost:2.40"), "{cc}");

    assert!(s.ok(&["get", "pods", "-l", "test=liveness", "-o", "name"]).contains("liveness-http"));
    assert!(s.ok(&["get", "pods", "-l", "test in (other)", "-o", "name"]).trim().is_empty());
    assert!(s.ok(&["get", "pods", "--field-selector=status.phase==Pending", "-o", "name"]).contains("liveness-http"));
    assert!(s.ok(&["get", "pods", "--field-selector=status.phase==Running", "-o", "name"]).trim().is_empty());
    assert!(
        s.ok(&["get", "pods", "--field-selector=metadata.name=liveness-http", "-o", "name"]).contains("liveness-http")
    );
    let err = s.fails(&["get", "pods", "--field-selector=spec.bogus=x"]);
    assert!(err.contains("field label not supported: spec.bogus"), "{err}");

    // Paging: `--chunk-size` makes kubectl follow continue tokens.
    for i in 0..7 {
        s.ok(&["create", "configmap", &format!("page-{i}")]);
    }
    let names = s.ok(&["get", "configmaps", "--chunk-size=2", "-o", "name"]);
    assert_eq!(names.lines().filter(|l| l.starts_with("configmap/page-")).count(), 7, "{names}");
}

#[test]
fn watch_streams_changes() {
    let s = TestServer::start();
    let mut child = s
        .kubectl_cmd(&["get", "configmaps", "-w", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    s.ok(&["create", "configmap", "watched", "--from-literal=k=v"]);
    s.ok(&["label", "configmap", "watched", "x=y"]);
    s.ok(&["delete", "configmap", "watched"]);
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("ADDED") && l.contains("watched")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("MODIFIED") && l.contains("watched")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("DELETED") && l.contains("watched")), "{text}");
}

#[test]
fn describe_explain_patch_scale_label_replace_delete() {
    let s = TestServer::start();
    let f = s.manifest("pod.yaml", LIVENESS_POD);
    s.ok(&["apply", "-f", path_str(&f)]);
    let d = s.ok(&["describe", "pod", "liveness-http"]);
    assert!(d.contains("Name:") && d.contains("liveness-http"), "{d}");
    assert!(
        d.contains("Liveness:")
            && d.contains("http-get http://:8080/healthz delay=3s timeout=1s period=3s #success=1 #failure=3"),
        "{d}"
    );

    let e = s.ok(&["explain", "pods.spec.containers.livenessProbe"]);
    assert!(e.contains("FIELD: livenessProbe <Probe>"), "{e}");
    assert!(e.contains("periodSeconds") && e.contains("How often (in seconds) to perform the probe"), "{e}");

    s.ok(&["create", "deployment", "web", "--image=nginx:1.27"]);
    // Strategic merge patch: merges the container list by name.
    s.ok(&[
        "patch",
        "deployment",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}}}"#,
    ]);
    let dep = s.get_json(&["deployment", "web"]);
    assert_eq!(dep["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 1);
    assert_eq!(dep["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.28");
    assert_eq!(dep["metadata"]["generation"], 2);
    // Merge patch.
    s.ok(&["patch", "deployment", "web", "--type=merge", "-p", r#"{"metadata":{"labels":{"tier":"front"}}}"#]);
    assert_eq!(s.get_json(&["deployment", "web"])["metadata"]["labels"]["tier"], "front");
    // JSON patch.
    s.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#,
    ]);
    assert_eq!(s.get_json(&["deployment", "web"])["spec"]["replicas"], 3);
    let err = s.fails(&[
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/spec/replicas","value":9}]"#,
    ]);
    assert!(!err.is_empty());

    assert_eq!(s.ok(&["scale", "deployment", "web", "--replicas=10"]).trim(), "deployment.apps/web scaled");
    assert_eq!(s.get_json(&["deployment", "web"])["spec"]["replicas"], 10);
    let scale: Value = serde_json::from_str(&s.raw("/apis/apps/v1/namespaces/default/deployments/web/scale")).unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 10);
    assert_eq!(scale["status"]["selector"], "app=web");

    s.ok(&["label", "deployment", "web", "env=prod"]);
    s.ok(&["annotate", "deployment", "web", "note=hello"]);
    let dep = s.get_json(&["deployment", "web"]);
    assert_eq!(dep["metadata"]["labels"]["env"], "prod");
    assert_eq!(dep["metadata"]["annotations"]["note"], "hello");
    let err = s.fails(&["label", "deployment", "web", "env=dev"]);
    assert!(err.contains("already has a value"), "{err}");
    s.ok(&["label", "deployment", "web", "env-"]);
    assert!(s.get_json(&["deployment", "web"])["metadata"]["labels"].get("env").is_none());

    // replace: read, change, write back with its resourceVersion.
    let mut cm_yaml = String::new();
    s.ok(&["create", "configmap", "rep", "--from-literal=a=1"]);
    cm_yaml.push_str(&s.ok(&["get", "configmap", "rep", "-o", "yaml"]).replace("a: \"1\"", "a: \"2\""));
    let f = s.manifest("rep.yaml", &cm_yaml);
    assert_eq!(s.ok(&["replace", "-f", path_str(&f)]).trim(), "configmap/rep replaced");
    assert_eq!(s.get_json(&["configmap", "rep"])["data"]["a"], "2");
    // The same file again carries a stale resourceVersion.
    let err = s.fails(&["replace", "-f", path_str(&f)]);
    assert!(err.contains("the object has been modified"), "{err}");

    assert_eq!(s.ok(&["delete", "configmap", "rep"]).trim(), "configmap \"rep\" deleted");
    let err = s.fails(&["get", "configmap", "rep"]);
    assert!(err.contains("Error from server (NotFound): configmaps \"rep\" not found"), "{err}");
    s.ok(&["create", "configmap", "gone"]);
    let mut waiter = s
        .kubectl_cmd(&["wait", "--for=delete", "configmap/gone", "--timeout=30s"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    s.ok(&["delete", "configmap", "gone"]);
    assert!(waiter.wait().unwrap().success());
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              image: {type: string}
              replicas: {type: integer, minimum: 0}
          status:
            type: object
            properties:
              replicas: {type: integer}
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
"#;

#[test]
fn custom_resources() {
    let s = TestServer::start();
    let f = s.manifest("crd.yaml", CRD);
    s.ok(&["apply", "-f", path_str(&f)]);
    s.ok(&["wait", "--for", "condition=established", "crd/crontabs.stable.example.com", "--timeout=30s"]);
    let cr = s.manifest("cr.yaml", "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: my-cron\nspec:\n  cronSpec: '* * * * */5'\n  image: my-cron-image\n  replicas: 1\n");
    let out = s.kubectl(&["apply", "-f", path_str(&cr)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = s.ok(&["get", "crontabs"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "SPEC", "REPLICAS", "AGE"]);
    assert!(table.lines().nth(1).unwrap().starts_with("my-cron"), "{table}");
    assert!(s.ok(&["get", "ct", "-o", "name"]).contains("crontab.stable.example.com/my-cron"));
    s.ok(&["scale", "crontab", "my-cron", "--replicas=3"]);
    assert_eq!(s.get_json(&["crontab", "my-cron"])["spec"]["replicas"], 3);
    // Status only changes through the status subresource.
    s.ok(&[
        "patch",
        "crontab",
        "my-cron",
        "--type=merge",
        "--subresource=status",
        "-p",
        r#"{"status":{"replicas":3}}"#,
    ]);
    s.ok(&["patch", "crontab", "my-cron", "--type=merge", "-p", r#"{"status":{"replicas":9}}"#]);
    assert_eq!(s.get_json(&["crontab", "my-cron"])["status"]["replicas"], 3);
    let err = s.fails(&["patch", "crontab", "my-cron", "--type=merge", "-p", r#"{"spec":{"replicas":-1}}"#]);
    assert!(err.contains("spec.replicas") && err.contains("greater than or equal to 0"), "{err}");
    let e = s.ok(&["explain", "crontab.spec"]);
    assert!(e.contains("cronSpec"), "{e}");
    // Cluster-scoped custom resources work the same way.
    let cluster_crd = CRD
        .replace("crontabs", "globaltabs")
        .replace("crontab", "globaltab")
        .replace("CronTab", "GlobalTab")
        .replace("scope: Namespaced", "scope: Cluster")
        .replace("shortNames: [ct]", "shortNames: [gt]");
    let f = s.manifest("gcrd.yaml", &cluster_crd);
    s.ok(&["apply", "-f", path_str(&f)]);
    s.ok(&["wait", "--for", "condition=established", "crd/globaltabs.stable.example.com", "--timeout=30s"]);
    let g = s.manifest(
        "g.yaml",
        "apiVersion: stable.example.com/v1\nkind: GlobalTab\nmetadata:\n  name: g1\nspec:\n  replicas: 2\n",
    );
    s.ok(&["apply", "-f", path_str(&g)]);
    assert_eq!(s.get_json(&["globaltab", "g1"])["metadata"].get("namespace"), None);
    // Deleting the CRD removes its objects.
    s.ok(&["delete", "crd", "crontabs.stable.example.com"]);
    assert!(eventually(Duration::from_secs(10), || !s.kubectl(&["get", "crontabs"]).status.success()));
}

#[test]
fn bad_input_gets_clear_errors_and_stores_nothing() {
    let s = TestServer::start();
    let cases: &[(&str, &str, &str)] = &[
        ("broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n", "error"),
        (
            "unknown.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unk\ndata:\n  a: b\nbogus: 1\n",
            "unknown field \"bogus\"",
        ),
        (
            "badname.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n",
            "metadata.name: Invalid value: \"Bad_Name\"",
        ),
        ("noname.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "name"),
    ];
    for (file, content, expect) in cases {
        let f = s.manifest(file, content);
        let err = s.fails(&["apply", "-f", path_str(&f)]);
        assert!(err.contains(expect), "{file}: {err}");
    }
    // A kind the server does not serve.
    let f = s.manifest("nokind.yaml", "apiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n");
    let err = s.fails(&["apply", "--validate=false", "-f", path_str(&f)]);
    assert!(err.contains("no matches for kind \"Widget\" in version \"v1\""), "{err}");
    // A body of the wrong kind sent to a resource's endpoint.
    let f = s.manifest("wrong.json", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"wrong"}}"#);
    let err = s.fails(&["create", "--raw", "/api/v1/namespaces/default/configmaps", "-f", path_str(&f)]);
    assert!(err.contains("the kind in the data (Service) does not match the expected kind (ConfigMap)"), "{err}");
    let err = s.fails(&["create", "-f", path_str(&s.manifest("inv.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: inv\nspec:\n  replicas: -1\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: c}}\n    spec: {containers: [{name: c, image: i}]}\n"))]);
    assert!(err.contains("is invalid"), "{err}");
    // Oversized body: over 3 MiB.
    let big = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  blob: \"{}\"\n",
        "x".repeat(3 * 1024 * 1024 + 10)
    );
    let f = s.manifest("big.yaml", &big);
    let err = s.fails(&["create", "-f", path_str(&f)]);
    assert!(err.contains("too large") || err.contains("Too large") || err.contains("413"), "{err}");
    // Malformed JSON through the raw API.
    let f = s.manifest("broken.json", "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", ");
    let err = s.fails(&["create", "--raw", "/api/v1/namespaces/default/configmaps", "-f", path_str(&f)]);
    assert!(err.contains("json parse error"), "{err}");
    // Unknown fields with Warn are dropped with a warning; with Ignore silently.
    let f = s
        .manifest("warn.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: warned\ndata:\n  a: b\nextra: 1\n");
    let out = s.kubectl(&["apply", "--validate=warn", "-f", path_str(&f)]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown field \"extra\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s.get_json(&["configmap", "warned"]).get("extra").is_none());
    // Missing namespace.
    let err = s.fails(&["create", "configmap", "x", "-n", "nope"]);
    assert!(err.contains("namespaces \"nope\" not found"), "{err}");
    // Nothing was stored.
    let names = s.ok(&["get", "configmaps", "-A", "-o", "name"]);
    for n in ["unk", "Bad_Name", "big", "noname", "wrong"] {
        assert!(!names.contains(&format!("configmap/{n}\n")), "{n} stored: {names}");
    }
    assert!(s.kubectl(&["get", "deployment", "inv"]).status.code() != Some(0));
}

#[test]
fn certificates_and_kubeconfig_survive_restart() {
    let mut s = TestServer::start();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.kubeconfig()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let kc = std::fs::read_to_string(s.kubeconfig()).unwrap();
    assert!(!kc.contains("insecure-skip-tls-verify"));
    let ca_before = std::fs::read(s.data_dir().join("server/tls/server-ca.crt")).unwrap();
    s.ok(&["create", "configmap", "persist"]);
    s.restart();
    assert_eq!(std::fs::read(s.data_dir().join("server/tls/server-ca.crt")).unwrap(), ca_before);
    assert_eq!(std::fs::read_to_string(s.kubeconfig()).unwrap(), kc, "kubeconfig reused");
    assert!(s.ok(&["get", "configmap", "persist", "-o", "name"]).contains("persist"));
    // Credentials the server does not know get 401.
    let anon = s.dir.path().join("anon.yaml");
    let ca = kc.lines().find(|l| l.contains("certificate-authority-data")).unwrap().to_string();
    std::fs::write(&anon, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{}\n{ca}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: not-a-known-token}}\n", s.port)).unwrap();
    let out = s.kubectl(&["--kubeconfig", path_str(&anon), "get", "pods"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthorized"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn no_acknowledged_write_is_lost_on_sigkill() {
    let mut s = TestServer::start();
    let mut doc = String::new();
    for i in 0..400 {
        doc.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  i: \"{i}\"\n"
        ));
    }
    let f = s.manifest("many.yaml", &doc);
    let child = s
        .kubectl_cmd(&["create", "-f", path_str(&f)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let some creates through, then kill the server without warning.
    std::thread::sleep(Duration::from_millis(1200));
    s.kill();
    let out = child.wait_with_output().unwrap();
    let created: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("configmap/").and_then(|l| l.strip_suffix(" created")).map(String::from))
        .collect();
    assert!(!created.is_empty(), "no create was acknowledged before the kill");
    s.restart();
    let names = s.ok(&["get", "configmaps", "-o", "name"]);
    for name in &created {
        assert!(names.contains(&format!("configmap/{name}\n")), "acknowledged {name} lost after SIGKILL");
    }
}

#[test]
fn node_ports_and_cluster_ips_are_exclusive_and_released() {
    let s = TestServer::start();
    let svc = |name: &str, node_port: u16| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  type: NodePort\n  clusterIP: 10.43.7.7\n  selector: {{app: x}}\n  ports:\n  - port: 80\n    nodePort: {node_port}\n"
        )
    };
    s.ok(&["create", "-f", path_str(&s.manifest("a.yaml", &svc("a", 30080)))]);
    let err = s.fails(&["create", "-f", path_str(&s.manifest("b.yaml", &svc("b", 30081)))]);
    assert!(err.contains("provided IP is already allocated"), "{err}");
    let err =
        s.fails(&["create", "-f", path_str(&s.manifest("c.yaml", &svc("c", 30080).replace("10.43.7.7", "10.43.7.8")))]);
    assert!(err.contains("provided port is already allocated"), "{err}");
    let err =
        s.fails(&["create", "-f", path_str(&s.manifest("d.yaml", &svc("d", 30082).replace("10.43.7.7", "10.44.0.1")))]);
    assert!(err.contains("not in the valid range"), "{err}");
    s.ok(&["delete", "service", "a"]);
    // Released: both values can be taken again.
    s.ok(&["create", "-f", path_str(&s.manifest("e.yaml", &svc("e", 30080)))]);
    let e = s.get_json(&["service", "e"]);
    assert_eq!(e["spec"]["clusterIP"], "10.43.7.7");
    assert_eq!(e["spec"]["ports"][0]["nodePort"], 30080);
}

#[test]
fn terminating_namespace_refuses_new_content() {
    let s = TestServer::start();
    // A finalizer of our own keeps the namespace in Terminating whatever else runs.
    let f = s.manifest(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: going\n  finalizers: [example.com/hold]\n",
    );
    s.ok(&["create", "-f", path_str(&f)]);
    s.ok(&["delete", "namespace", "going", "--wait=false"]);
    assert_eq!(s.get_json(&["namespace", "going"])["status"]["phase"], "Terminating");
    let err = s.fails(&["create", "configmap", "late", "-n", "going"]);
    assert!(err.contains("unable to create new content in namespace going because it is being terminated"), "{err}");
    s.ok(&["patch", "namespace", "going", "--type=json", "-p", r#"[{"op":"remove","path":"/metadata/finalizers"}]"#]);
}
