//! `k3rs images import|ls|rm`: the images of the node's containerd (namespace `k8s.io`,
//! where the kubelet finds them). The agent must be running when it supervises
//! containerd itself; otherwise `--container-runtime-endpoint` names the socket.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use k3rs_runtime::{ImageService, ImportProgress};

use crate::agent::containerd::socket_for;
use crate::cli::{ImagesArgs, ImagesCommand};

async fn connect(args: &ImagesArgs) -> anyhow::Result<ImageService> {
    let socket = socket_for(&args.data_dir, args.container_runtime_endpoint.as_deref())?;
    ImageService::connect(&socket, "k8s.io", "overlayfs").await.with_context(|| {
        format!(
            "cannot reach containerd at {}: is the k3rs agent (or server) running with this --data-dir, \
             or was it given a --container-runtime-endpoint?",
            socket.display()
        )
    })
}

pub async fn run(args: ImagesArgs) -> anyhow::Result<()> {
    let images = connect(&args).await?;
    match &args.command {
        ImagesCommand::Import { archives } => {
            for archive in archives {
                import(&images, archive).await?;
            }
            Ok(())
        }
        ImagesCommand::Ls { quiet } => list(&images, *quiet).await,
        ImagesCommand::Rm { images: names } => {
            for name in names {
                let present = images.present(name).await?.with_context(|| format!("image {name:?} not found"))?;
                images.remove(&present.name).await.with_context(|| format!("removing {}", present.name))?;
                println!("Deleted: {}", present.name);
            }
            Ok(())
        }
    }
}

fn bar(total: u64, archive: &Path) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new(total) } else { ProgressBar::hidden() };
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(archive.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    bar
}

async fn import(images: &ImageService, archive: &Path) -> anyhow::Result<()> {
    let size = tokio::fs::metadata(archive).await.with_context(|| format!("reading {}", archive.display()))?.len();
    let progress = ImportProgress::new();
    let bar = bar(size, archive);
    let import = images.import(archive, progress.clone());
    tokio::pin!(import);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let result = loop {
        tokio::select! {
            result = &mut import => break result,
            _ = tick.tick() => bar.set_position(progress.read()),
        }
    };
    bar.set_position(size);
    bar.finish_and_clear();
    let imported = result.with_context(|| format!("importing {}", archive.display()))?;
    for image in imported {
        println!("Imported: {} ({})", image.name, image.id);
    }
    Ok(())
}

/// Sizes as `ctr`/`crictl` print them.
fn human_size(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `IMAGE TAG IMAGE ID SIZE` rows: the name split at its tag, the ID shortened as crictl does.
fn rows(images: &[k3rs_runtime::ImageSummary]) -> Vec<[String; 4]> {
    let mut sorted: Vec<_> = images.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    sorted
        .into_iter()
        .map(|image| {
            let (repo, tag) = match k3rs_runtime::ImageRef::parse(&image.name) {
                Ok(r) => (format!("{}/{}", r.registry, r.repository), r.tag.clone().unwrap_or_else(|| "<none>".into())),
                Err(_) => (image.name.clone(), "<none>".into()),
            };
            let id = image.id.trim_start_matches("sha256:").chars().take(13).collect();
            [repo, tag, id, human_size(image.size)]
        })
        .collect()
}

async fn list(images: &ImageService, quiet: bool) -> anyhow::Result<()> {
    let all = images.list().await?;
    if quiet {
        let mut names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
        names.sort_unstable();
        for name in names {
            println!("{name}");
        }
        return Ok(());
    }
    let mut table = vec![["IMAGE".to_string(), "TAG".into(), "IMAGE ID".into(), "SIZE".into()]];
    table.extend(rows(&all));
    let widths: Vec<usize> = (0..4).map(|c| table.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    for row in table {
        println!(
            "{:<w0$}   {:<w1$}   {:<w2$}   {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rows() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
        let image = k3rs_runtime::ImageSummary {
            name: "docker.io/library/busybox:1.36".into(),
            id: "sha256:0123456789abcdef".into(),
            repo_digest: String::new(),
            size: 2048,
            unpacked: true,
        };
        assert_eq!(
            rows(&[image]),
            vec![["docker.io/library/busybox".to_string(), "1.36".into(), "0123456789abc".into(), "2.0 KiB".into()]]
        );
    }
}
