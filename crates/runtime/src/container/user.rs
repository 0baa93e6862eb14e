//! Which user a container runs as: `runAsUser`/`runAsGroup` from the pod, else the image's
//! `USER` (`uid`, `uid:gid`, `name` or `name:group`), with names and the primary group
//! looked up in the image's `/etc/passwd` and `/etc/group`, and the supplementary groups
//! the user is a member of, as containerd's CRI plugin does.

use crate::error::{Result, RuntimeError};

/// The resolved user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// The image files user resolution may need (absent files are empty).
#[derive(Clone, Debug, Default)]
pub struct IdFiles {
    pub passwd: String,
    pub group: String,
}

/// True when resolving the user needs the image's `/etc/passwd` or `/etc/group`.
pub fn needs_id_files(run_as_user: Option<u32>, run_as_group: Option<u32>, image_user: &str) -> bool {
    match run_as_user {
        Some(_) => run_as_group.is_none(),
        None => {
            let (user, group) = split(image_user);
            !user.is_empty() && (user.parse::<u32>().is_err() || group.is_none_or(|g| g.parse::<u32>().is_err()))
        }
    }
}

fn split(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    }
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        Some(PasswdEntry {
            name: fields.first()?,
            uid: fields.get(2)?.parse().ok()?,
            gid: fields.get(3)?.parse().ok()?,
        })
    })
}

/// (name, gid, members) of each group.
fn group_entries(group: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    group.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let members = fields.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).collect()).unwrap_or_default();
        Some((*fields.first()?, fields.get(2)?.parse().ok()?, members))
    })
}

/// Resolves the user. `image_user` is the image's `USER` (may be empty).
pub fn resolve(
    run_as_user: Option<u32>,
    run_as_group: Option<u32>,
    supplemental_groups: &[u32],
    image_user: &str,
    files: &IdFiles,
) -> Result<ResolvedUser> {
    let invalid = |reason: String| RuntimeError::InvalidConfig(reason);
    let (uid, mut gid, name) = match run_as_user {
        Some(uid) => {
            let entry = passwd_entries(&files.passwd).find(|e| e.uid == uid);
            (uid, entry.as_ref().map(|e| e.gid), entry.map(|e| e.name.to_string()))
        }
        None => {
            let (user, group) = split(image_user);
            let (uid, primary, name) = if user.is_empty() {
                (0, Some(0), Some("root".to_string()))
            } else if let Ok(uid) = user.parse::<u32>() {
                let entry = passwd_entries(&files.passwd).find(|e| e.uid == uid);
                (uid, entry.as_ref().map(|e| e.gid), entry.map(|e| e.name.to_string()))
            } else {
                let entry = passwd_entries(&files.passwd)
                    .find(|e| e.name == user)
                    .ok_or_else(|| invalid(format!("image user {user:?} is not in the image's /etc/passwd")))?;
                (entry.uid, Some(entry.gid), Some(user.to_string()))
            };
            let gid = match group {
                None | Some("") => primary,
                Some(group) => Some(match group.parse::<u32>() {
                    Ok(gid) => gid,
                    Err(_) => group_entries(&files.group)
                        .find(|(name, _, _)| *name == group)
                        .map(|(_, gid, _)| gid)
                        .ok_or_else(|| invalid(format!("image group {group:?} is not in the image's /etc/group")))?,
                }),
            };
            (uid, gid, name)
        }
    };
    if let Some(group) = run_as_group {
        gid = Some(group);
    }
    let gid = gid.unwrap_or(0);
    let mut additional_gids: Vec<u32> = Vec::new();
    if let Some(name) = &name {
        for (_, group_gid, members) in group_entries(&files.group) {
            if members.contains(&name.as_str()) && group_gid != gid && !additional_gids.contains(&group_gid) {
                additional_gids.push(group_gid);
            }
        }
    }
    for group in supplemental_groups {
        if !additional_gids.contains(group) {
            additional_gids.push(*group);
        }
    }
    Ok(ResolvedUser { uid, gid, additional_gids })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> IdFiles {
        IdFiles {
            passwd: "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1001::/home/web:/bin/sh\n".into(),
            group: "root:x:0:\nweb:x:1001:\nstaff:x:50:web,other\n".into(),
        }
    }

    #[test]
    fn pod_settings_win_over_the_image() {
        let user = resolve(Some(1000), None, &[7], "root", &files()).unwrap();
        assert_eq!(user, ResolvedUser { uid: 1000, gid: 1001, additional_gids: vec![50, 7] });
        let user = resolve(Some(4242), Some(5), &[], "", &files()).unwrap();
        assert_eq!(user, ResolvedUser { uid: 4242, gid: 5, additional_gids: vec![] });
    }

    #[test]
    fn image_users_resolve_by_number_or_name() {
        assert_eq!(resolve(None, None, &[], "", &files()).unwrap().uid, 0);
        let web = resolve(None, None, &[], "web", &files()).unwrap();
        assert_eq!((web.uid, web.gid), (1000, 1001));
        let numeric = resolve(None, None, &[], "123:456", &IdFiles::default()).unwrap();
        assert_eq!((numeric.uid, numeric.gid), (123, 456));
        let named_group = resolve(None, None, &[], "1000:staff", &files()).unwrap();
        assert_eq!(named_group.gid, 50);
        assert!(resolve(None, None, &[], "ghost", &files()).unwrap_err().to_string().contains("/etc/passwd"));
    }

    #[test]
    fn id_files_are_only_needed_for_names_or_missing_groups() {
        assert!(!needs_id_files(Some(1), Some(1), "web"));
        assert!(needs_id_files(Some(1), None, ""));
        assert!(!needs_id_files(None, None, ""));
        assert!(!needs_id_files(None, None, "1:2"));
        assert!(needs_id_files(None, None, "1"));
        assert!(needs_id_files(None, None, "web"));
    }
}
