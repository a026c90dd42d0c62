//! What the container runtimes on this host say of their containers: the
//! name of each (Docker's `config.v2.json`, Podman's `containers.json`) and
//! the addresses Docker gave them, so that a container is named, not only
//! numbered, and a userland proxy (docker-proxy) or a forward to a
//! container's address is attributed to the container that answers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;

use crate::model::firewall::Forward;
use crate::model::{Container, NetnsLabel, Process};
use crate::sys::Files;

const DOCKER_CONTAINERS: &str = "/var/lib/docker/containers";
const PODMAN_CONTAINERS: &str = "/var/lib/containers/storage/overlay-containers/containers.json";
/// A runtime's file larger than this is not read.
const FILE_LIMIT: u64 = 16 << 20;
/// Containers read, at most.
const CONTAINERS_LIMIT: usize = 100_000;

/// The containers the runtimes' files describe.
#[derive(Clone, Debug, Default)]
pub struct Runtimes {
    by_id: HashMap<String, Known>,
}

/// The network namespaces of this host with their addresses (name, or
/// inode when unnamed), for a proxy whose target no runtime names.
pub type NamespaceAddresses<'a> = Box<dyn Fn() -> Vec<(NetnsLabel, Vec<IpAddr>)> + Sync + 'a>;

#[derive(Clone, Debug)]
struct Known {
    runtime: &'static str,
    name: String,
    addresses: Vec<IpAddr>,
}

impl Runtimes {
    /// Reads what this user may read of Docker's and Podman's state;
    /// nothing at all is no error (no runtime, no permission).
    pub fn read(files: &dyn Files) -> Runtimes {
        let mut runtimes = Runtimes::default();
        runtimes.read_docker(files);
        runtimes.read_podman(files);
        runtimes
    }

    fn read_docker(&mut self, files: &dyn Files) {
        let Ok(ids) = files.list_dir(Path::new(DOCKER_CONTAINERS)) else { return };
        for id in ids.into_iter().take(CONTAINERS_LIMIT) {
            let Some(id) = id.to_str().filter(|id| is_id(id)).map(str::to_owned) else { continue };
            let path = Path::new(DOCKER_CONTAINERS).join(&id).join("config.v2.json");
            let Ok(text) = files.read_text(&path, FILE_LIMIT) else { continue };
            let Ok(config) = serde_json::from_str::<Value>(&text) else { continue };
            let name = config["Name"].as_str().unwrap_or_default().trim_start_matches('/');
            // A stopped container's addresses may be anyone's now.
            let running = config["State"]["Running"].as_bool() == Some(true);
            let networks = config["NetworkSettings"]["Networks"].as_object().filter(|_| running);
            let addresses = networks
                .into_iter()
                .flat_map(|networks| networks.values())
                .flat_map(|network| [&network["IPAddress"], &network["GlobalIPv6Address"]])
                .filter_map(|address| address.as_str()?.parse().ok())
                .collect();
            let known = Known { runtime: "docker", name: name.to_owned(), addresses };
            self.by_id.insert(id, known);
        }
    }

    fn read_podman(&mut self, files: &dyn Files) {
        let Ok(text) = files.read_text(Path::new(PODMAN_CONTAINERS), FILE_LIMIT) else { return };
        let Ok(Value::Array(containers)) = serde_json::from_str::<Value>(&text) else { return };
        for container in containers.iter().take(CONTAINERS_LIMIT) {
            let (Some(id), Some(name)) = (container["id"].as_str(), container["names"][0].as_str())
            else {
                continue;
            };
            let known = Known { runtime: "podman", name: name.to_owned(), addresses: Vec::new() };
            self.by_id.entry(id.to_owned()).or_insert(known);
        }
    }

    /// Names `process`'s container, and the container a docker-proxy
    /// serves (from its `-container-ip`); where no runtime names that
    /// address, the network namespace that holds it (`runtime` `netns`),
    /// when only one does.
    pub fn describe(
        &self,
        process: &mut Process,
        namespaces: &std::sync::OnceLock<Vec<(NetnsLabel, Vec<IpAddr>)>>,
        namespace_addresses: Option<&NamespaceAddresses<'_>>,
    ) {
        if let Some(container) = process.container.as_mut() {
            container.name = self.by_id.get(&container.id).map(|known| known.name.clone());
        }
        let Some(addr) = proxy_target(process) else { return };
        process.serves = self.at(addr).or_else(|| {
            let all =
                namespaces.get_or_init(|| namespace_addresses.map(|f| f()).unwrap_or_default());
            // Namespaces may share private addresses: only one holding it
            // names the target.
            let mut holding = all.iter().filter(|(_, addresses)| addresses.contains(&addr));
            let (label, _) = holding.next()?;
            if holding.next().is_some() {
                return None;
            }
            Some(Container {
                runtime: "netns".to_owned(),
                id: label.inode.to_string(),
                name: label.name.clone(),
            })
        });
    }

    /// The running container that holds `addr`, when only one does.
    pub fn at(&self, addr: IpAddr) -> Option<Container> {
        let mut holding = self.by_id.iter().filter(|(_, known)| known.addresses.contains(&addr));
        let (id, known) = holding.next()?;
        if holding.next().is_some() {
            return None;
        }
        Some(Container {
            runtime: known.runtime.to_owned(),
            id: id.clone(),
            name: Some(known.name.clone()),
        })
    }

    /// Names the container each forward sends to, by its target address.
    pub fn name_targets<'f>(&self, forwards: impl IntoIterator<Item = &'f mut Forward>) {
        for forward in forwards {
            let target = forward.to.addr.as_deref().and_then(|addr| addr.parse().ok());
            forward.container = target.and_then(|addr| self.at(addr));
        }
    }
}

/// Whether the runtimes have something to say of `process`: it runs in a
/// container, or proxies to one.
pub fn concerns(process: &Process) -> bool {
    process.container.is_some() || proxy_target(process).is_some()
}

fn is_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// The address a userland proxy sends to: docker-proxy's `-container-ip`.
/// Only root's: anyone may name a program docker-proxy, and a listener
/// of theirs must not pass for a container's.
fn proxy_target(process: &Process) -> Option<IpAddr> {
    let program = process.argv.first()?.as_str()?;
    if !program.ends_with("docker-proxy") || process.uid != Some(0) {
        return None;
    }
    let at = process.argv.iter().position(|arg| arg.as_str() == Some("-container-ip"))?;
    process.argv.get(at + 1)?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::process::Text;

    fn proxy(args: &[&str]) -> Process {
        Process {
            argv: args.iter().map(|arg| Text::from(arg.to_string())).collect(),
            uid: Some(0),
            ..Process::default()
        }
    }

    #[test]
    fn docker_proxy_command_lines_name_their_target() {
        let docker = proxy(&[
            "/usr/sbin/docker-proxy",
            "-proto",
            "tcp",
            "-host-ip",
            "0.0.0.0",
            "-host-port",
            "18080",
            "-container-ip",
            "172.17.0.2",
            "-container-port",
            "8080",
        ]);
        assert_eq!(proxy_target(&docker), "172.17.0.2".parse().ok());
        let users = Process { uid: Some(1000), ..docker.clone() };
        assert_eq!(proxy_target(&users), None, "not root's");
        let unknown = Process { uid: None, ..docker };
        assert_eq!(proxy_target(&unknown), None, "nobody knows whose");
        assert_eq!(proxy_target(&proxy(&["/usr/bin/socat", "-container-ip", "1.2.3.4"])), None);
        assert_eq!(proxy_target(&proxy(&["docker-proxy", "-container-ip"])), None);
    }

    /// Docker's state directory holding `configs` (id, config.v2.json).
    struct DockerState(Vec<(String, String)>);

    impl Files for DockerState {
        fn read_text(&self, path: &Path, _limit: u64) -> std::io::Result<String> {
            let found = self.0.iter().find(|(id, _)| {
                path == Path::new(DOCKER_CONTAINERS).join(id).join("config.v2.json")
            });
            found.map(|(_, text)| text.clone()).ok_or(std::io::ErrorKind::NotFound.into())
        }

        fn open_read(&self, _path: &Path) -> std::io::Result<Box<dyn std::io::Read + Send>> {
            Err(std::io::ErrorKind::Unsupported.into())
        }

        fn list_dir(&self, path: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
            assert_eq!(path, Path::new(DOCKER_CONTAINERS));
            Ok(self.0.iter().map(|(id, _)| id.into()).collect())
        }

        fn write_atomically(
            &self,
            _path: &Path,
            _write: &mut dyn FnMut(&mut dyn std::io::Write) -> anyhow::Result<()>,
        ) -> anyhow::Result<()> {
            anyhow::bail!("read-only")
        }
    }

    fn config(id_digit: char, name: &str, running: bool, address: &str) -> (String, String) {
        let id: String = std::iter::repeat_n(id_digit, 64).collect();
        let text = format!(
            r#"{{"Name": "/{name}", "State": {{"Running": {running}}},
                "NetworkSettings": {{"Networks": {{"bridge": {{"IPAddress": "{address}"}}}}}}}}"#
        );
        (id, text)
    }

    #[test]
    fn an_address_names_the_one_running_container_that_holds_it() {
        let state = DockerState(vec![
            config('a', "web", true, "172.17.0.2"),
            config('b', "old-web", false, "172.17.0.2"),
            config('c', "left", true, "172.18.0.5"),
            config('d', "right", true, "172.18.0.5"),
        ]);
        let runtimes = Runtimes::read(&state);
        let web = runtimes.at("172.17.0.2".parse().unwrap()).expect("web");
        assert_eq!(web.name.as_deref(), Some("web"), "the stopped one's address is not its own");
        assert_eq!(runtimes.at("172.18.0.5".parse().unwrap()), None, "two hold it: neither");
    }
}
