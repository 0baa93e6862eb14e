//! Builds images from local files, so that tests and benchmarks never need a registry:
//! layers are tars made in memory, the image is written as an OCI layout or a docker
//! archive (optionally gzip- or zstd-compressed), or handed over as blobs (e.g. to a test
//! registry). [`Layer::busybox`] makes a small userland from the host's static busybox.
//!
//! Everything here is blocking (file reads, compression): call it from
//! `tokio::task::spawn_blocking` in async code.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::oci::{self, Descriptor, ImageConfig, Index, Manifest, Platform, ProcessDefaults, RootFs, media};

/// Modification time given to every layer entry, so that layers are reproducible.
const MTIME: u64 = 1_700_000_000;

/// How blobs or archives are compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Zstd,
}

/// The archive layout to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// An OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`).
    Oci,
    /// A `docker save` archive (`manifest.json`, `<id>.json`, `<id>/layer.tar`).
    Docker,
}

#[derive(Clone, Debug)]
enum Entry {
    Dir { mode: u32 },
    File { data: Vec<u8>, mode: u32 },
    HostFile { source: PathBuf, mode: u32 },
    Symlink { target: String },
}

/// One image layer, described entry by entry (paths are relative to the root: `bin/sh`).
#[derive(Clone, Debug, Default)]
pub struct Layer {
    entries: BTreeMap<String, Entry>,
}

fn clean(path: &str) -> String {
    path.trim_matches('/').to_string()
}

impl Layer {
    /// An empty layer.
    pub fn new() -> Layer {
        Layer::default()
    }

    /// Adds a directory.
    pub fn dir(mut self, path: &str, mode: u32) -> Layer {
        self.entries.insert(clean(path), Entry::Dir { mode });
        self
    }

    /// Adds a file with the given content.
    pub fn file(mut self, path: &str, data: impl Into<Vec<u8>>, mode: u32) -> Layer {
        self.entries.insert(clean(path), Entry::File { data: data.into(), mode });
        self
    }

    /// Adds a file copied from the host when the layer is built.
    pub fn host_file(mut self, path: &str, source: impl Into<PathBuf>, mode: u32) -> Layer {
        self.entries.insert(clean(path), Entry::HostFile { source: source.into(), mode });
        self
    }

    /// Adds a symbolic link.
    pub fn symlink(mut self, path: &str, target: &str) -> Layer {
        self.entries.insert(clean(path), Entry::Symlink { target: target.to_string() });
        self
    }

    /// A minimal userland: the host's static busybox as `/bin/busybox` with a link for each
    /// applet (`/bin/sh`, `/bin/sleep`, `/usr/bin/wget`, ...), `/etc/passwd` and `/etc/group`
    /// (root and nobody), `/tmp` and `/root`.
    pub fn busybox() -> io::Result<Layer> {
        let binary = find_busybox()?;
        let output = std::process::Command::new(&binary).arg("--list-full").output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!("{} --list-full failed", binary.display())));
        }
        let mut layer = Layer::new()
            .host_file("bin/busybox", &binary, 0o755)
            .file(
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
                0o644,
            )
            .file("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644)
            .dir("tmp", 0o1777)
            .dir("root", 0o700)
            .dir("etc", 0o755)
            .dir("proc", 0o755)
            .dir("sys", 0o755)
            .dir("dev", 0o755);
        for applet in String::from_utf8_lossy(&output.stdout).lines().map(str::trim).filter(|l| !l.is_empty()) {
            if applet != "bin/busybox" && !applet.contains("..") {
                layer = layer.symlink(applet, "/bin/busybox");
            }
        }
        Ok(layer)
    }

    /// The layer as an uncompressed tar, parents before children, directories made explicit.
    pub fn tar(&self) -> io::Result<Vec<u8>> {
        let mut paths: BTreeSet<String> = BTreeSet::new();
        for path in self.entries.keys() {
            let mut parent = Path::new(path).parent();
            while let Some(dir) = parent.filter(|p| !p.as_os_str().is_empty()) {
                paths.insert(dir.to_string_lossy().into_owned());
                parent = dir.parent();
            }
            paths.insert(path.clone());
        }
        let mut builder = tar::Builder::new(Vec::new());
        for path in &paths {
            let entry = self.entries.get(path).cloned().unwrap_or(Entry::Dir { mode: 0o755 });
            let mut header = tar::Header::new_gnu();
            header.set_mtime(MTIME);
            header.set_uid(0);
            header.set_gid(0);
            match entry {
                Entry::Dir { mode } => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(mode);
                    header.set_size(0);
                    builder.append_data(&mut header, format!("{path}/"), io::empty())?;
                }
                Entry::File { data, mode } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(mode);
                    header.set_size(data.len() as u64);
                    builder.append_data(&mut header, path, data.as_slice())?;
                }
                Entry::HostFile { source, mode } => {
                    let data = std::fs::read(&source)
                        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", source.display())))?;
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(mode);
                    header.set_size(data.len() as u64);
                    builder.append_data(&mut header, path, data.as_slice())?;
                }
                Entry::Symlink { target } => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_mode(0o777);
                    header.set_size(0);
                    builder.append_link(&mut header, path, target)?;
                }
            }
        }
        builder.into_inner()
    }
}

/// Finds the host's busybox (Debian's `busybox-static` installs `/bin/busybox`).
pub fn find_busybox() -> io::Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join("busybox")).collect())
        .unwrap_or_default();
    candidates.extend([PathBuf::from("/bin/busybox"), PathBuf::from("/usr/bin/busybox")]);
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "busybox not found (install Debian's busybox-static)"))
}

/// An image described in code.
#[derive(Clone, Debug)]
pub struct ImageBuilder {
    name: String,
    layers: Vec<Layer>,
    defaults: ProcessDefaults,
    layer_compression: Compression,
}

/// A built image: its documents and layer blobs, ready to be archived or served.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    /// The image name (as given to the builder).
    pub name: String,
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    pub manifest_digest: String,
    pub config_bytes: Vec<u8>,
    pub config_digest: String,
    /// Each layer's descriptor and (possibly compressed) bytes, bottom first.
    pub layers: Vec<(Descriptor, Vec<u8>)>,
}

impl BuiltImage {
    /// Every blob by digest: the manifest, the configuration and the layers.
    pub fn blobs(&self) -> BTreeMap<String, Vec<u8>> {
        let mut blobs = BTreeMap::new();
        blobs.insert(self.manifest_digest.clone(), self.manifest_bytes.clone());
        blobs.insert(self.config_digest.clone(), self.config_bytes.clone());
        for (descriptor, bytes) in &self.layers {
            blobs.insert(descriptor.digest.clone(), bytes.clone());
        }
        blobs
    }
}

impl ImageBuilder {
    /// An image without layers, named `name` (any reference, e.g. `k3rs.local/busybox:test`).
    pub fn new(name: &str) -> ImageBuilder {
        ImageBuilder {
            name: name.to_string(),
            layers: Vec::new(),
            defaults: ProcessDefaults {
                env: Some(vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()]),
                ..Default::default()
            },
            layer_compression: Compression::Gzip,
        }
    }

    /// A busybox image (see [`Layer::busybox`]) whose default command is `sh`.
    pub fn busybox(name: &str) -> io::Result<ImageBuilder> {
        Ok(ImageBuilder::new(name).layer(Layer::busybox()?).cmd(&["sh"]))
    }

    /// Adds a layer on top.
    pub fn layer(mut self, layer: Layer) -> ImageBuilder {
        self.layers.push(layer);
        self
    }

    pub fn entrypoint(mut self, entrypoint: &[&str]) -> ImageBuilder {
        self.defaults.entrypoint = Some(entrypoint.iter().map(|s| s.to_string()).collect());
        self
    }

    pub fn cmd(mut self, cmd: &[&str]) -> ImageBuilder {
        self.defaults.cmd = Some(cmd.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Adds an environment variable (`NAME=value`).
    pub fn env(mut self, name: &str, value: &str) -> ImageBuilder {
        self.defaults.env.get_or_insert_with(Vec::new).push(format!("{name}={value}"));
        self
    }

    pub fn working_dir(mut self, dir: &str) -> ImageBuilder {
        self.defaults.working_dir = Some(dir.to_string());
        self
    }

    /// The image's `USER` (`uid`, `uid:gid` or a name from the image's `/etc/passwd`).
    pub fn user(mut self, user: &str) -> ImageBuilder {
        self.defaults.user = Some(user.to_string());
        self
    }

    pub fn stop_signal(mut self, signal: &str) -> ImageBuilder {
        self.defaults.stop_signal = Some(signal.to_string());
        self
    }

    /// How layers are compressed (gzip by default, as registries serve them).
    pub fn layer_compression(mut self, compression: Compression) -> ImageBuilder {
        self.layer_compression = compression;
        self
    }

    /// Builds the layers, configuration and manifest.
    pub fn build(&self) -> io::Result<BuiltImage> {
        let mut layers = Vec::with_capacity(self.layers.len());
        let mut diff_ids = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let tar = layer.tar()?;
            diff_ids.push(oci::sha256_digest(&tar));
            let (bytes, media_type) = match self.layer_compression {
                Compression::None => (tar, media::OCI_LAYER),
                Compression::Gzip => (compress(&tar, Compression::Gzip)?, media::OCI_LAYER_GZIP),
                Compression::Zstd => (compress(&tar, Compression::Zstd)?, media::OCI_LAYER_ZSTD),
            };
            let descriptor = Descriptor {
                media_type: media_type.to_string(),
                digest: oci::sha256_digest(&bytes),
                size: bytes.len() as i64,
                ..Default::default()
            };
            layers.push((descriptor, bytes));
        }
        let platform = Platform::host();
        let config = ImageConfig {
            architecture: platform.architecture,
            os: platform.os,
            variant: None,
            config: Some(self.defaults.clone()),
            rootfs: RootFs { kind: "layers".to_string(), diff_ids },
        };
        let config_bytes = serde_json::to_vec(&config).map_err(io::Error::other)?;
        let config_digest = oci::sha256_digest(&config_bytes);
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.to_string()),
            config: Descriptor {
                media_type: media::OCI_CONFIG.to_string(),
                digest: config_digest.clone(),
                size: config_bytes.len() as i64,
                ..Default::default()
            },
            layers: layers.iter().map(|(d, _)| d.clone()).collect(),
            annotations: Default::default(),
        };
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
        let manifest_digest = oci::sha256_digest(&manifest_bytes);
        Ok(BuiltImage {
            name: self.name.clone(),
            manifest,
            manifest_bytes,
            manifest_digest,
            config_bytes,
            config_digest,
            layers,
        })
    }

    /// Builds the image and writes it as an archive at `path`.
    pub fn write_archive(
        &self,
        path: &Path,
        format: ArchiveFormat,
        compression: Compression,
    ) -> io::Result<BuiltImage> {
        let image = self.build()?;
        write_archive(&[&image], path, format, compression)?;
        Ok(image)
    }
}

/// Writes one or more built images into one archive.
pub fn write_archive(
    images: &[&BuiltImage],
    path: &Path,
    format: ArchiveFormat,
    compression: Compression,
) -> io::Result<()> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(MTIME);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, data)
    };
    let hex = |digest: &str| digest.trim_start_matches("sha256:").to_string();
    match format {
        ArchiveFormat::Oci => {
            add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
            let mut written = BTreeSet::new();
            let mut index =
                Index { schema_version: 2, media_type: Some(media::OCI_INDEX.to_string()), ..Default::default() };
            for image in images {
                for (digest, data) in image.blobs() {
                    if written.insert(digest.clone()) {
                        add(&format!("blobs/sha256/{}", hex(&digest)), &data)?;
                    }
                }
                let mut annotations =
                    BTreeMap::from([(oci::ANNOTATION_CONTAINERD_NAME.to_string(), image.name.clone())]);
                if let Ok(reference) = super::ImageRef::parse(&image.name) {
                    annotations.insert(oci::ANNOTATION_REF_NAME.to_string(), reference.to_string());
                }
                index.manifests.push(Descriptor {
                    media_type: media::OCI_MANIFEST.to_string(),
                    digest: image.manifest_digest.clone(),
                    size: image.manifest_bytes.len() as i64,
                    platform: Some(Platform::host()),
                    annotations,
                });
            }
            add("index.json", &serde_json::to_vec(&index).map_err(io::Error::other)?)?;
        }
        ArchiveFormat::Docker => {
            let mut manifest = Vec::new();
            for image in images {
                let config_name = format!("{}.json", hex(&image.config_digest));
                add(&config_name, &image.config_bytes)?;
                let mut layer_names = Vec::new();
                for (descriptor, data) in &image.layers {
                    let name = format!("{}/layer.tar", hex(&descriptor.digest));
                    add(&name, data)?;
                    layer_names.push(name);
                }
                manifest.push(serde_json::json!({
                    "Config": config_name,
                    "RepoTags": [image.name],
                    "Layers": layer_names,
                }));
            }
            add("manifest.json", &serde_json::to_vec(&manifest).map_err(io::Error::other)?)?;
        }
    }
    let tar = builder.into_inner()?;
    let bytes = compress(&tar, compression)?;
    let mut file = File::create(path)?;
    file.write_all(&bytes)?;
    file.sync_all()
}

/// Compresses bytes as asked.
pub fn compress(data: &[u8], compression: Compression) -> io::Result<Vec<u8>> {
    match compression {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(data)?;
            encoder.finish()
        }
        Compression::Zstd => Ok(ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType)> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), e.header().entry_type())
            })
            .collect()
    }

    #[test]
    fn layers_list_parents_first_and_are_reproducible() {
        let layer = Layer::new().file("a/b/c.txt", "hi", 0o644).symlink("a/link", "/a/b/c.txt");
        let tar = layer.tar().unwrap();
        let names: Vec<String> = entries(&tar).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["a/", "a/b/", "a/b/c.txt", "a/link"]);
        assert_eq!(tar, layer.tar().unwrap());
    }

    #[test]
    fn built_image_documents_agree() {
        let image =
            ImageBuilder::new("k3rs.local/t:1").layer(Layer::new().file("x", "1", 0o644)).cmd(&["/x"]).build().unwrap();
        let config: ImageConfig = serde_json::from_slice(&image.config_bytes).unwrap();
        assert_eq!(config.rootfs.diff_ids.len(), 1);
        assert_eq!(image.manifest.config.digest, oci::sha256_digest(&image.config_bytes));
        assert_eq!(image.manifest_digest, oci::sha256_digest(&image.manifest_bytes));
        let (layer, bytes) = &image.layers[0];
        assert_eq!(layer.media_type, media::OCI_LAYER_GZIP);
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut tar).unwrap();
        assert_eq!(oci::sha256_digest(&tar), config.rootfs.diff_ids[0]);
    }

    #[test]
    fn archives_have_the_expected_layout() {
        let dir = tempfile::tempdir().unwrap();
        let builder = ImageBuilder::new("k3rs.local/t:1").layer(Layer::new().file("x", "1", 0o644));
        let oci_path = dir.path().join("oci.tar");
        builder.write_archive(&oci_path, ArchiveFormat::Oci, Compression::None).unwrap();
        let names: Vec<String> = entries(&std::fs::read(&oci_path).unwrap()).into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"index.json".to_string()) && names.contains(&"oci-layout".to_string()));
        assert_eq!(names.iter().filter(|n| n.starts_with("blobs/sha256/")).count(), 3);

        let docker_path = dir.path().join("docker.tar.zst");
        builder.write_archive(&docker_path, ArchiveFormat::Docker, Compression::Zstd).unwrap();
        let compressed = std::fs::read(&docker_path).unwrap();
        let mut tar = Vec::new();
        ruzstd::decoding::StreamingDecoder::new(compressed.as_slice()).unwrap().read_to_end(&mut tar).unwrap();
        let names: Vec<String> = entries(&tar).into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"manifest.json".to_string()));
        assert!(names.iter().any(|n| n.ends_with("/layer.tar")));
    }

    #[test]
    fn busybox_layer_links_applets() {
        let Ok(layer) = Layer::busybox() else {
            eprintln!("busybox not installed; skipping");
            return;
        };
        let names = entries(&layer.tar().unwrap());
        assert!(names.iter().any(|(n, t)| n == "bin/busybox" && *t == tar::EntryType::Regular));
        assert!(names.iter().any(|(n, t)| n == "bin/sh" && *t == tar::EntryType::Symlink));
    }
}
