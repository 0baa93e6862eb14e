//! CronJob (batch/v1): defaults, schedule and time-zone validation, printing.

use k8s_openapi::api::batch::v1::CronJob;
use serde_json::{Value, json};

use super::cron;
use super::job_spec::validate_job_spec;
use crate::kinds::apps::{containers_column, images_column};
use crate::kinds::support::checks::nonnegative_at;
use crate::kinds::support::json::{default_key, default_str, object_mut};
use crate::kinds::support::pod_template::default_template_at;
use crate::kinds::support::selector::format_label_selector;
use crate::meta;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

/// Job names are `<cronjob>-<11 character suffix>` and must fit 63 characters.
const MAX_NAME_LENGTH: usize = 52;

pub struct CronJobStrategy;

impl Strategy for CronJobStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<CronJob>(obj)
    }

    fn default(&self, obj: &mut Value) {
        let Some(spec) = object_mut(obj, &["spec"]) else { return };
        default_str(spec, "concurrencyPolicy", "Allow");
        default_key(spec, "suspend", json!(false));
        default_key(spec, "successfulJobsHistoryLimit", json!(3));
        default_key(spec, "failedJobsHistoryLimit", json!(1));
        default_template_at(obj, "/spec/jobTemplate/spec/template");
    }

    fn has_status(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_spec(obj, None);
        let name = meta::name(obj);
        if name.len() > MAX_NAME_LENGTH {
            errs.push(FieldError::invalid("metadata.name", name, "must be no more than 52 characters"));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        // No name-length rule: older CronJobs with longer names must stay updatable.
        validate_spec(new, Some(old))
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
            Column::new(
                "Timezone",
                "string",
                "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
            ),
            Column::new(
                "Suspend",
                "boolean",
                "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.",
            ),
            Column::new("Active", "integer", "A list of pointers to currently running jobs."),
            Column::new(
                "Last Schedule",
                "string",
                "Information when was the last time the job was successfully scheduled.",
            ),
            Column::age(),
            containers_column(),
            images_column(),
            Column::wide("Selector", "string", "A label query over pods that should match the pod count."),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let last = match obj.pointer("/status/lastScheduleTime").and_then(Value::as_str) {
            Some(t) => table::since(Some(t), ctx),
            None => "<none>".to_string(),
        };
        let suspend = match obj.pointer("/spec/suspend").and_then(Value::as_bool) {
            Some(true) => "True",
            Some(false) => "False",
            None => "<unset>",
        };
        let active = obj.pointer("/status/active").and_then(Value::as_array).map_or(0, Vec::len);
        let (names, images) = table::container_cells(obj.pointer("/spec/jobTemplate/spec/template/spec"));
        vec![
            json!(obj.pointer("/spec/schedule").and_then(Value::as_str).unwrap_or_default()),
            json!(obj.pointer("/spec/timeZone").and_then(Value::as_str).unwrap_or("<none>")),
            json!(suspend),
            json!(active),
            json!(last),
            json!(table::age(obj, ctx)),
            json!(names),
            json!(images),
            json!(format_label_selector(obj.pointer("/spec/jobTemplate/spec/selector"))),
        ]
    }
}

fn validate_spec(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = FieldPath::root("spec");
    let mut errs = Vec::new();
    let schedule = obj.pointer("/spec/schedule").and_then(Value::as_str).unwrap_or_default();
    let time_zone = obj.pointer("/spec/timeZone").and_then(Value::as_str);
    if schedule.is_empty() {
        errs.push(FieldError::required(spec.child("schedule"), ""));
    } else {
        // An update may keep a TZ prefix that older servers accepted.
        let allow_tz =
            old.and_then(|o| o.pointer("/spec/schedule")).and_then(Value::as_str).is_some_and(|s| s.contains("TZ"));
        errs.extend(validate_schedule(schedule, allow_tz, time_zone, &spec.child("schedule")));
    }
    errs.extend(nonnegative_at(obj, "/spec/startingDeadlineSeconds", &spec.child("startingDeadlineSeconds")));
    let old_zone = old.map(|o| o.pointer("/spec/timeZone").and_then(Value::as_str));
    if old_zone != Some(time_zone) {
        errs.extend(validate_time_zone(obj.pointer("/spec/timeZone"), &spec.child("timeZone")));
    }
    let policy_path = spec.child("concurrencyPolicy");
    match obj.pointer("/spec/concurrencyPolicy").and_then(Value::as_str).unwrap_or_default() {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required(&policy_path, "")),
        other => errs.push(FieldError::not_supported(&policy_path, other, &["Allow", "Forbid", "Replace"])),
    }
    let template_spec_path = spec.child("jobTemplate").child("spec");
    let job_spec = obj.pointer("/spec/jobTemplate/spec").unwrap_or(&Value::Null);
    errs.extend(validate_job_spec(job_spec, &template_spec_path));
    if let Some(sel) = job_spec.get("selector").filter(|v| !v.is_null()) {
        errs.push(FieldError::invalid(
            template_spec_path.child("selector"),
            sel.clone(),
            "`selector` will be auto-generated",
        ));
    }
    if job_spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        errs.push(FieldError::not_supported(template_spec_path.child("manualSelector"), true, &["nil", "false"]));
    }
    errs.extend(nonnegative_at(obj, "/spec/successfulJobsHistoryLimit", &spec.child("successfulJobsHistoryLimit")));
    errs.extend(nonnegative_at(obj, "/spec/failedJobsHistoryLimit", &spec.child("failedJobsHistoryLimit")));
    errs
}

/// `validateScheduleFormat`: parses like the CronJob controller and steers zone
/// prefixes to the `timeZone` field.
pub fn validate_schedule(schedule: &str, allow_tz: bool, time_zone: Option<&str>, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Err(e) = cron::parse(schedule) {
        errs.push(FieldError::invalid(path, schedule, e));
    }
    let has_tz = schedule.contains("TZ");
    if allow_tz && has_tz && time_zone.is_some() {
        errs.push(FieldError::invalid(path, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"));
    } else if !allow_tz && has_tz {
        errs.push(FieldError::invalid(
            path,
            schedule,
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ));
    }
    errs
}

/// `validateTimeZone`: an explicit IANA zone the server knows.
pub fn validate_time_zone(time_zone: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let Some(value) = time_zone.filter(|v| !v.is_null()) else { return Vec::new() };
    let zone = value.as_str().unwrap_or_default();
    if zone.is_empty() {
        return vec![FieldError::invalid(path, zone, "timeZone must be nil or non-empty string")];
    }
    // IANA naming rules: 1-14 letters, digits, '.', '-', '_' or '+' per component.
    let part_ok = |p: &str| {
        p != "."
            && p != ".."
            && !p.starts_with('-')
            && (1..=14).contains(&p.len())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || ".-_+".contains(c))
    };
    if !zone.split('/').all(part_ok) {
        return vec![FieldError::invalid(path, zone, format!("unknown time zone {zone}"))];
    }
    let mut errs = Vec::new();
    if zone.eq_ignore_ascii_case("Local") {
        errs.push(FieldError::invalid(
            path,
            zone,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
    if let Err(e) = cron::load_location(zone) {
        errs.push(FieldError::invalid(path, zone, e));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cronjob() -> Value {
        let mut cj = json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "hello", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "hello", "image": "busybox"}]}}}}}
        });
        CronJobStrategy.normalize(&mut cj).unwrap();
        CronJobStrategy.default(&mut cj);
        cj
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults() {
        let cj = cronjob();
        assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(cj["spec"]["suspend"], false);
        assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
        assert!(CronJobStrategy.validate_create(&cj).is_empty(), "{:?}", CronJobStrategy.validate_create(&cj));
    }

    #[test]
    fn schedule_rules() {
        let mut cj = cronjob();
        cj["spec"]["schedule"] = json!("61 * * * *");
        assert_eq!(
            messages(CronJobStrategy.validate_create(&cj)),
            vec!["spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61"]
        );
        cj["spec"]["schedule"] = json!("CRON_TZ=UTC 0 * * * *");
        assert_eq!(
            messages(CronJobStrategy.validate_create(&cj)),
            vec![
                "spec.schedule: Invalid value: \"CRON_TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            ]
        );
        // Kept on update when the stored schedule had it, unless timeZone is set too.
        let old = cj.clone();
        assert!(CronJobStrategy.validate_update(&cj, &old).is_empty());
        cj["spec"]["timeZone"] = json!("Etc/UTC");
        assert_eq!(
            messages(CronJobStrategy.validate_update(&cj, &old)),
            vec![
                "spec.schedule: Invalid value: \"CRON_TZ=UTC 0 * * * *\": cannot use both timeZone field and TZ or CRON_TZ in schedule"
            ]
        );
        cj["spec"]["schedule"] = json!("");
        assert_eq!(messages(CronJobStrategy.validate_create(&cj)), vec!["spec.schedule: Required value"]);
    }

    #[test]
    fn time_zones() {
        let mut cj = cronjob();
        cj["spec"]["timeZone"] = json!("Europe/Berlin");
        assert!(CronJobStrategy.validate_create(&cj).is_empty());
        for (zone, want) in [
            ("Mars/Base", "spec.timeZone: Invalid value: \"Mars/Base\": unknown time zone Mars/Base"),
            ("", "spec.timeZone: Invalid value: \"\": timeZone must be nil or non-empty string"),
            ("../etc/passwd", "spec.timeZone: Invalid value: \"../etc/passwd\": unknown time zone ../etc/passwd"),
            (
                "Local",
                "spec.timeZone: Invalid value: \"Local\": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            ),
        ] {
            cj["spec"]["timeZone"] = json!(zone);
            assert_eq!(messages(CronJobStrategy.validate_create(&cj))[0], want);
        }
    }

    #[test]
    fn other_rules() {
        let mut cj = cronjob();
        cj["metadata"]["name"] = json!("x".repeat(53));
        cj["spec"]["concurrencyPolicy"] = json!("Sometimes");
        cj["spec"]["jobTemplate"]["spec"]["selector"] = json!({"matchLabels": {"a": "b"}});
        cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        let errs = messages(CronJobStrategy.validate_create(&cj));
        for want in [
            "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
            "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
            "spec.jobTemplate.spec.selector: Invalid value: {\"matchLabels\":{\"a\":\"b\"}}: `selector` will be auto-generated",
            "metadata.name: Invalid value: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\": must be no more than 52 characters",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want:?} in {errs:?}");
        }
    }

    #[test]
    fn prints() {
        let mut cj = cronjob();
        cj["status"] = json!({"lastScheduleTime": "2024-01-01T00:10:00Z", "active": [{"name": "hello-1"}]});
        let ctx = Context { now: "2024-01-01T00:12:00Z".parse().unwrap() };
        let row = CronJobStrategy.row(&cj, &ctx);
        assert_eq!(CronJobStrategy.columns().len(), row.len());
        assert_eq!(
            row,
            vec![
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("2m"),
                json!("12m"),
                json!("hello"),
                json!("busybox"),
                json!("<none>")
            ]
        );
    }
}
