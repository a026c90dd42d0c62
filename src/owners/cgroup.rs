//! Where a process sits in the cgroup tree, read from /proc/PID/cgroup: its
//! systemd unit and the container it runs in. Handles cgroup v1 (one line
//! per controller hierarchy), v2 (one `0::` line) and the mixed layout.

use std::collections::HashMap;

pub use crate::model::Container;
use crate::sys::Resolver;

/// Names cgroup v2 ids (the kernel's INET_DIAG_CGROUP_ID) as ss's
/// `cgroup:` does: the cgroup's path below the cgroup2 mount, `/` for its
/// root, or `unreachable:ID` (hex) when no directory of the mount has that
/// id (no cgroup2 mount, or a cgroup gone). The mount is walked on the
/// first id, and at most once more, for the first id it did not have (a
/// cgroup made since): a listing full of gone cgroups costs two walks, not
/// one per socket.
pub struct CgroupPaths<'s> {
    resolver: &'s dyn Resolver,
    by_id: Option<HashMap<u64, String>>,
    walked_again: bool,
}

impl<'s> CgroupPaths<'s> {
    pub fn new(resolver: &'s dyn Resolver) -> Self {
        CgroupPaths { resolver, by_id: None, walked_again: false }
    }

    /// The path of the cgroup with this id, or `unreachable:ID`.
    pub fn path(&mut self, id: u64) -> String {
        let walked_now = self.by_id.is_none();
        let mut found = self.lookup(id);
        if found.is_none() && !walked_now && !self.walked_again {
            self.walked_again = true;
            self.by_id = None;
            found = self.lookup(id);
        }
        found.unwrap_or_else(|| format!("unreachable:{id:x}"))
    }

    fn lookup(&mut self, id: u64) -> Option<String> {
        let resolver = self.resolver;
        let by_id =
            self.by_id.get_or_insert_with(|| resolver.cgroup_directories().into_iter().collect());
        by_id.get(&id).cloned()
    }
}

/// What a /proc/PID/cgroup file tells about its process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// The innermost systemd service or scope, such as `ssh.service`.
    pub unit: Option<String>,
    pub container: Option<Container>,
}

/// Reads the contents of a /proc/PID/cgroup file.
pub fn placement(cgroup_file: &str) -> Placement {
    let path = placement_path(cgroup_file);
    Placement {
        unit: path.and_then(innermost_unit),
        container: cgroup_file.lines().filter_map(path_of).find_map(container_in),
    }
}

/// `hierarchy-ID:controllers:path` → path.
fn path_of(line: &str) -> Option<&str> {
    line.splitn(3, ':').nth(2)
}

/// The most telling path: the unified (v2) hierarchy's, else systemd's v1
/// `name=systemd` hierarchy's, else the first other one that is not `/`.
fn placement_path(cgroup_file: &str) -> Option<&str> {
    let lines: Vec<(&str, &str)> = cgroup_file
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some((controllers, path))
        })
        .filter(|(_, path)| *path != "/")
        .collect();
    let by = |wanted: &str| lines.iter().find(|(c, _)| *c == wanted).map(|(_, p)| *p);
    by("").or_else(|| by("name=systemd")).or_else(|| lines.first().map(|(_, p)| *p))
}

fn innermost_unit(path: &str) -> Option<String> {
    path.rsplit('/')
        .find(|part| part.ends_with(".service") || part.ends_with(".scope"))
        .map(str::to_owned)
}

fn is_container_id(text: &str) -> bool {
    text.len() >= 12 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Recognises the cgroup paths container runtimes create, under both the
/// systemd driver (`docker-<id>.scope`) and the cgroupfs one (`/docker/<id>`).
fn container_in(path: &str) -> Option<Container> {
    let in_kubepods = path.contains("kubepods");
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let scoped = |prefix: &str| {
        parts.iter().rev().find_map(|part| {
            let id = part.strip_prefix(prefix)?;
            let id = id.strip_suffix(".scope").unwrap_or(id);
            is_container_id(id).then(|| id.to_owned())
        })
    };
    let container =
        |runtime: &str, id: String| Some(Container { runtime: runtime.into(), id, name: None });
    let kube_or = |runtime| if in_kubepods { "kubepods" } else { runtime };
    if let Some(id) = scoped("docker-") {
        return container(kube_or("docker"), id);
    }
    if let Some(id) = scoped("libpod-") {
        return container("podman", id);
    }
    if let Some(id) = scoped("cri-containerd-").or_else(|| scoped("nerdctl-")) {
        return container(kube_or("containerd"), id);
    }
    if let Some(id) = scoped("crio-") {
        return container(kube_or("cri-o"), id);
    }
    if let Some(at) = parts.iter().position(|p| *p == "docker") {
        if let Some(id) = parts.get(at + 1).filter(|id| is_container_id(id)) {
            return container(kube_or("docker"), (*id).to_owned());
        }
    }
    if in_kubepods {
        if let Some(id) = parts.iter().rev().find(|p| is_container_id(p)) {
            return container("kubepods", (*id).to_owned());
        }
    }
    lxc_name(&parts).and_then(|name| container("lxc", name))
}

/// `/lxc/NAME/...` (LXC before 4.0) or `/lxc.payload.NAME/...` (4.0 on).
fn lxc_name(parts: &[&str]) -> Option<String> {
    let first = parts.first()?;
    if let Some(name) = first.strip_prefix("lxc.payload.") {
        return Some(name.to_owned());
    }
    (*first == "lxc").then(|| parts.get(1).map(|name| (*name).to_owned())).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cgroup tree that grows a directory after the first walk.
    struct Tree(std::sync::atomic::AtomicUsize);

    impl Resolver for Tree {
        fn host_addresses(&self, _: &str) -> Vec<std::net::IpAddr> {
            Vec::new()
        }
        fn host_name(&self, _: std::net::IpAddr) -> Option<String> {
            None
        }
        fn interface_index(&self, _: &str) -> Option<u32> {
            None
        }
        fn interface_name(&self, _: u32) -> Option<String> {
            None
        }
        fn cgroup_id(&self, _: &str) -> Option<u64> {
            None
        }
        fn cgroup_directories(&self) -> Vec<(u64, String)> {
            let walks = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut tree = vec![(1, "/".to_owned()), (0x1a2, "/system.slice".to_owned())];
            if walks > 0 {
                tree.push((0x1a3, "/system.slice/new.service".to_owned()));
            }
            tree
        }
    }

    #[test]
    fn cgroup_ids_name_paths_as_ss_does() {
        let tree = Tree(Default::default());
        let mut paths = CgroupPaths::new(&tree);
        assert_eq!(paths.path(1), "/");
        assert_eq!(paths.path(0x1a2), "/system.slice");
        assert_eq!(paths.path(0x1a3), "/system.slice/new.service", "walked again once");
        assert_eq!(paths.path(0xbeef), "unreachable:beef");
        assert_eq!(paths.path(0xbeef), "unreachable:beef");
        assert_eq!(tree.0.load(std::sync::atomic::Ordering::SeqCst), 2, "at most one walk again");
        let none = FakeNoMount;
        assert_eq!(CgroupPaths::new(&none).path(1), "unreachable:1");
    }

    struct FakeNoMount;

    impl Resolver for FakeNoMount {
        fn host_addresses(&self, _: &str) -> Vec<std::net::IpAddr> {
            Vec::new()
        }
        fn host_name(&self, _: std::net::IpAddr) -> Option<String> {
            None
        }
        fn interface_index(&self, _: &str) -> Option<u32> {
            None
        }
        fn interface_name(&self, _: u32) -> Option<String> {
            None
        }
        fn cgroup_id(&self, _: &str) -> Option<u64> {
            None
        }
    }

    /// Real /proc/PID/cgroup files from published sources (fixtures/cgroup/SOURCES.md).
    fn fixture(name: &str) -> Placement {
        let path = format!("{}/fixtures/cgroup/{name}.cgroup", env!("CARGO_MANIFEST_DIR"));
        placement(&std::fs::read_to_string(path).unwrap())
    }

    fn container(runtime: &str, id: &str) -> Option<Container> {
        Some(Container { runtime: runtime.into(), id: id.into(), name: None })
    }

    #[test]
    fn systemd_services_on_v1_v2_and_hybrid() {
        for (name, unit) in [
            ("v2-systemd-service", "nginx.service"),
            ("v1-systemd-service", "docker.service"),
            ("hybrid-systemd-service", "ssh.service"),
            ("v2-user-session", "session-3.scope"),
        ] {
            let placement = fixture(name);
            assert_eq!(placement.unit.as_deref(), Some(unit), "{name}");
            assert_eq!(placement.container, None, "{name}");
        }
        assert_eq!(fixture("host-root"), Placement::default());
    }

    #[test]
    fn docker_under_both_drivers() {
        let v1 = fixture("docker-v1-cgroupfs");
        let id = "68fad1f9e0985989408aff30e7b83e7dada1d235ff46a22c5465ca193ddf0fac";
        assert_eq!(v1.container, container("docker", id));
        let v2 = fixture("docker-v2-systemd");
        let id = "b508e2673897c4f521d858f56dab18e31ddbfc1f83300fb9793c8a4052af8f05";
        assert_eq!(v2.container, container("docker", id));
        assert_eq!(v2.unit, Some(format!("docker-{id}.scope")));
    }

    #[test]
    fn podman_kubernetes_and_lxc() {
        let id = "cf21d19260ace8544fe8b769fc2638bf2c0873dfbfff0b6253f0569b26a1d5eb";
        assert_eq!(fixture("podman").container, container("podman", id));
        let id = "74998d19bd3c7423744214c344c6e814d19b7908a92f165f9d58243073a27a47";
        assert_eq!(fixture("kubepods-v1").container, container("kubepods", id));
        let id = "f33f47b0db740bb647cb3e7ac62d96c74966dbb99cbfaf4563bfd42d387e8b44";
        assert_eq!(fixture("kubepods-v2-crio").container, container("kubepods", id));
        assert_eq!(fixture("lxc").container, container("lxc", "debian2"));
    }

    #[test]
    fn containerd_without_kubernetes_is_not_recognised_from_cgroupfs_paths() {
        // `/<namespace>/<name>` cannot be told from any other cgroup; only
        // the systemd driver's `cri-containerd-` and `nerdctl-` scopes can.
        assert_eq!(fixture("containerd-plain").container, None);
        let scoped = placement("0::/system.slice/nerdctl-0123456789abcdef0123.scope\n");
        assert_eq!(scoped.container, container("containerd", "0123456789abcdef0123"));
    }

    #[test]
    fn a_root_cgroup_has_no_unit_and_no_container() {
        assert_eq!(placement("0::/\n"), Placement::default());
        assert_eq!(placement(""), Placement::default());
        assert_eq!(placement("garbage without colons"), Placement::default());
    }

    #[test]
    fn lxc_names() {
        let old = placement("4:cpu:/lxc/web01\n1:name=systemd:/lxc/web01/init.scope\n");
        assert_eq!(
            old.container,
            Some(Container { runtime: "lxc".into(), id: "web01".into(), name: None })
        );
        let new = placement("0::/lxc.payload.db/system.slice/postgresql.service\n");
        assert_eq!(
            new.container,
            Some(Container { runtime: "lxc".into(), id: "db".into(), name: None })
        );
        assert_eq!(new.unit.as_deref(), Some("postgresql.service"));
    }
}
