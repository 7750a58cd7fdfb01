//! A private containerd with its CRI plugin on, a `kiln` runtime handler
//! (and `runc` and `crun` ones for ordinary containers: the benchmarks
//! compare them), a CNI bridge, and a CRI client, as kubelet talks to it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatusRequest,
    CreateContainerRequest, ImageSpec, KeyValue, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, Mount, NamespaceMode, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata, PodSandboxStatusRequest, RemovePodSandboxRequest, RunPodSandboxRequest,
    StartContainerRequest, StopPodSandboxRequest, VersionRequest,
};
use tonic::transport::{Channel, Endpoint, Uri};

use super::{Containerd, Images, check, oci_image};

/// CRI's containerd namespace.
pub const K8S: &str = "k8s.io";
/// The runtime handler pods ask for (a RuntimeClass's `handler`).
pub const HANDLER: &str = "kiln";
pub const HTTP_IMAGE: &str = "docker.io/library/kiln-cri-http:v1";
pub const EXIT_IMAGE: &str = "docker.io/library/kiln-cri-exit:v1";
pub const CAT_IMAGE: &str = "docker.io/library/kiln-cri-cat:v1";
pub const PAUSE_IMAGE: &str = "docker.io/library/kiln-cri-pause:v1";

pub const IMAGES: &Images = &[
    ("examples/http-hello", HTTP_IMAGE),
    ("examples/exit-code", EXIT_IMAGE),
    ("tests/guests/std-cat", CAT_IMAGE),
];

/// A containerd with CRI on, the Kiln images and the pause image imported
/// in CRI's namespace, and a CNI bridge `kcri<net>` on 10.234.<net>.0/24
/// (each test its own `net`, so tests running at once never share one).
pub struct Cri {
    /// The containerd under test.
    pub containerd: Containerd,
    /// Runs the client's calls.
    pub runtime: tokio::runtime::Runtime,
    pods: RuntimeServiceClient<Channel>,
    /// CRI's image service.
    pub images: ImageServiceClient<Channel>,
    bridge: String,
}

impl Cri {
    pub fn start(test: &str, net: u8) -> Self {
        Self::start_with_env(test, net, &[])
    }

    /// As `start`, with `env` added to containerd's environment (and so to
    /// its shims').
    pub fn start_with_env(test: &str, net: u8, env: &[(&str, &str)]) -> Self {
        let bridge = format!("kcri{net}");
        let containerd = Containerd::start_with(test, K8S, IMAGES, env, |dir| {
            let cni = dir.join("cni");
            std::fs::create_dir_all(&cni).expect("mkdir");
            let conflist = serde_json::json!({
                "cniVersion": "0.4.0",
                "name": format!("kiln-test-{net}"),
                "plugins": [{
                    "type": "bridge",
                    "bridge": bridge,
                    "isGateway": true,
                    "ipMasq": false,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": format!("10.234.{net}.0/24")}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": dir.join("ipam"),
                    },
                }],
            });
            std::fs::write(cni.join("10-kiln-test.conflist"), conflist.to_string())
                .expect("write the CNI config");
            // CRI gives a pod's sandbox `oomScoreAdj: -998`, and lowering
            // a score needs CAP_SYS_RESOURCE, which no process has where the
            // tests run (a container: /proc/1's bounding set lacks it too),
            // so runc's and crun's sandboxes die writing
            // /proc/self/oom_score_adj (runc says only "can't get final
            // child's PID from pipe: EOF"). `restrict_oom_score_adj` makes
            // CRI ask for no less than containerd's own score, as rootless
            // setups do. The Kiln shim ignores scores either way.
            format!(
                "[plugins.\"io.containerd.grpc.v1.cri\"]\n\
                 \x20 sandbox_image = \"{PAUSE_IMAGE}\"\n\
                 \x20 restrict_oom_score_adj = true\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{HANDLER}]\n\
                 \x20 runtime_type = \"io.containerd.kiln.v1\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n\
                 \x20 runtime_type = \"io.containerd.runc.v2\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.crun]\n\
                 \x20 runtime_type = \"io.containerd.runc.v2\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.crun.options]\n\
                 \x20 BinaryName = \"crun\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".cni]\n\
                 \x20 bin_dir = \"/usr/lib/cni\"\n\
                 \x20 conf_dir = \"{}\"\n",
                cni.display()
            )
        });
        let pause = pause_image(&containerd.dir);
        containerd.ctr(&["image", "import", pause.to_str().expect("utf-8")]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let socket = containerd.socket.clone();
        let channel = runtime
            .block_on(
                Endpoint::try_from("http://[::]")
                    .expect("an endpoint")
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let socket = socket.clone();
                        async move {
                            Ok::<_, std::io::Error>(TokioIo::new(
                                tokio::net::UnixStream::connect(socket).await?,
                            ))
                        }
                    })),
            )
            .expect("connect to containerd's CRI");
        let cri = Self {
            containerd,
            runtime,
            pods: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
            bridge,
        };
        let version = cri.call(|mut c| async move { c.version(VersionRequest::default()).await });
        assert_eq!(version.runtime_name, "containerd", "{version:?}");
        cri
    }

    /// One runtime-service call, answered or failed.
    pub fn try_call<T, F>(
        &self,
        call: impl FnOnce(RuntimeServiceClient<Channel>) -> F,
    ) -> Result<T, tonic::Status>
    where
        F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.runtime
            .block_on(call(self.pods.clone()))
            .map(tonic::Response::into_inner)
    }

    /// One runtime-service call, which must succeed.
    pub fn call<T, F>(&self, call: impl FnOnce(RuntimeServiceClient<Channel>) -> F) -> T
    where
        F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.try_call(call).unwrap_or_else(|status| {
            panic!(
                "CRI call failed: {status}\ncontainerd's log:\n{}",
                self.log()
            )
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.containerd.dir.join("containerd.log")).unwrap_or_default()
    }

    /// A pod config: its own log directory, the pod network unless
    /// `host_network`.
    pub fn pod_config(&self, name: &str, host_network: bool) -> PodSandboxConfig {
        let logs = self.containerd.dir.join("logs").join(name);
        std::fs::create_dir_all(&logs).expect("mkdir");
        let network = if host_network {
            NamespaceMode::Node
        } else {
            NamespaceMode::Pod
        };
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.into(),
                uid: format!("uid-{name}"),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: name.into(),
            log_directory: logs.display().to_string(),
            linux: Some(LinuxPodSandboxConfig {
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(NamespaceOption {
                        network: network as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// RunPodSandbox with the `kiln` handler; the pod's id.
    pub fn run_pod(&self, config: &PodSandboxConfig) -> String {
        self.run_pod_with(config, HANDLER)
    }

    /// RunPodSandbox with runtime handler `handler`; the pod's id.
    pub fn run_pod_with(&self, config: &PodSandboxConfig, handler: &str) -> String {
        self.try_run_pod_with(config, handler)
            .unwrap_or_else(|status| panic!("RunPodSandbox failed: {status}\n{}", self.log()))
    }

    /// RunPodSandbox with runtime handler `handler`, answered or failed.
    pub fn try_run_pod_with(
        &self,
        config: &PodSandboxConfig,
        handler: &str,
    ) -> Result<String, tonic::Status> {
        let config = config.clone();
        let handler = handler.to_string();
        self.try_call(|mut c| async move {
            c.run_pod_sandbox(RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: handler,
            })
            .await
        })
        .map(|r| r.pod_sandbox_id)
    }

    /// CreateContainer of `image` in the pod, logging to `NAME.log`.
    pub fn create(
        &self,
        pod: &str,
        pod_config: &PodSandboxConfig,
        name: &str,
        image: &str,
        args: &[&str],
        mounts: Vec<Mount>,
    ) -> Result<String, tonic::Status> {
        let request = CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(ContainerConfig {
                metadata: Some(ContainerMetadata {
                    name: name.into(),
                    attempt: 0,
                }),
                image: Some(ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                args: args.iter().map(|a| a.to_string()).collect(),
                envs: vec![KeyValue {
                    key: "POD_NAME".into(),
                    value: name.into(),
                }],
                mounts,
                log_path: format!("{name}.log"),
                ..Default::default()
            }),
            sandbox_config: Some(pod_config.clone()),
        };
        self.try_call(|mut c| async move { c.create_container(request).await })
            .map(|r| r.container_id)
    }

    pub fn start_container(&self, id: &str) -> Result<(), tonic::Status> {
        let id = id.to_string();
        self.try_call(|mut c| async move {
            c.start_container(StartContainerRequest { container_id: id })
                .await
        })
        .map(drop)
    }

    /// The container's state and exit code.
    pub fn container_state(&self, id: &str) -> (ContainerState, i32) {
        let id = id.to_string();
        let status = self
            .call(|mut c| async move {
                c.container_status(ContainerStatusRequest {
                    container_id: id,
                    verbose: false,
                })
                .await
            })
            .status
            .expect("a status");
        (
            ContainerState::try_from(status.state).expect("a state"),
            status.exit_code,
        )
    }

    /// The process of a running container (from its verbose status).
    pub fn container_pid(&self, id: &str) -> u32 {
        let id = id.to_string();
        let status = self.call(|mut c| async move {
            c.container_status(ContainerStatusRequest {
                container_id: id,
                verbose: true,
            })
            .await
        });
        let info = verbose_info(&status.info);
        info["pid"].as_u64().expect("the container's pid") as u32
    }

    /// The pod's IP, and from the verbose status: the holder's pid and the
    /// network namespace CRI made.
    pub fn pod_status(&self, pod: &str) -> (String, u32, Option<String>) {
        let id = pod.to_string();
        let status = self.call(|mut c| async move {
            c.pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: id,
                verbose: true,
            })
            .await
        });
        let info = verbose_info(&status.info);
        let ip = status
            .status
            .and_then(|s| s.network)
            .map(|n| n.ip)
            .unwrap_or_default();
        let pid = info["pid"].as_u64().expect("the sandbox's pid") as u32;
        let netns = info["runtimeSpec"]["linux"]["namespaces"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|ns| ns["type"] == "network")
            .and_then(|ns| ns["path"].as_str().map(str::to_string));
        (ip, pid, netns)
    }

    pub fn stop_and_remove_pod(&self, pod: &str) {
        let id = pod.to_string();
        self.call(|mut c| async move {
            c.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: id })
                .await
        });
        let id = pod.to_string();
        self.call(|mut c| async move {
            c.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
                .await
        });
    }

    /// Waits (up to 60 s) for the container to exit; its exit code.
    pub fn wait_exit(&self, id: &str) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (state, code) = self.container_state(id);
            if state == ContainerState::ContainerExited {
                return code;
            }
            assert!(Instant::now() < deadline, "{id} still {state:?} after 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The CRI log file of container `name` in pod `pod`.
    pub fn container_log(&self, pod: &str, name: &str) -> String {
        let path = self
            .containerd
            .dir
            .join("logs")
            .join(pod)
            .join(format!("{name}.log"));
        std::fs::read_to_string(&path).unwrap_or_default()
    }

    /// The Kiln monitors and pod holders this containerd's shims run.
    pub fn guests(&self) -> Vec<(u32, String)> {
        let state = format!("{}/", self.containerd.dir.display());
        let mut found = self.containerd.processes(&state);
        found.retain(|(_, cmdline)| cmdline.contains(" run "));
        found
    }
}

impl Drop for Cri {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", "dev", &self.bridge])
            .output();
    }
}

/// The pause image: a static native program, built with the toolchain
/// that runs the tests.
pub fn pause_image(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pause.rs");
    let binary = dir.join("pause");
    let build = Command::new("rustc")
        .args([
            "--edition",
            "2024",
            "-O",
            "-C",
            "target-feature=+crt-static",
            "-o",
        ])
        .arg(&binary)
        .arg(&source)
        .output()
        .expect("run rustc");
    check(&build, "rustc pause.rs");
    let program = std::fs::read(&binary).expect("the pause binary");
    oci_image(dir, PAUSE_IMAGE, &[("pause", &program)], "/pause")
}

/// The JSON a verbose CRI status carries under `info` (containerd's view:
/// the process, the runtime spec...).
fn verbose_info(info: &std::collections::HashMap<String, String>) -> serde_json::Value {
    serde_json::from_str(info.get("info").expect("verbose info")).expect("json info")
}

/// GET / from `ip`:80, retried every 20 ms until it answers (or 60 s
/// pass); the body.
pub fn http_get(ip: &str) -> String {
    http_get_polling(ip, Duration::from_millis(20))
}

/// GET / from `ip`:80, retried every `poll` until it answers (or 60 s
/// pass); the body.
pub fn http_get_polling(ip: &str, poll: Duration) -> String {
    let address = (ip.parse::<Ipv4Addr>().expect("an IPv4 pod IP"), 80);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let attempt = TcpStream::connect_timeout(&address.into(), Duration::from_secs(1)).and_then(
            |mut stream| {
                stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                stream.write_all(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n")?;
                let mut response = String::new();
                stream.read_to_string(&mut response)?;
                Ok(response)
            },
        );
        match attempt {
            Ok(response) if response.starts_with("HTTP/1.") => {
                return response
                    .split_once("\r\n\r\n")
                    .map(|(_, body)| body.to_string())
                    .unwrap_or_default();
            }
            _ if Instant::now() < deadline => std::thread::sleep(poll),
            other => panic!("no HTTP answer from {ip}:80: {other:?}"),
        }
    }
}

pub fn exists(path: &str) -> bool {
    Path::new(path).exists()
}

/// Whether process `pid` is gone (or a zombie no one has reaped yet).
pub fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit(')').next().is_some_and(|s| s.starts_with(" Z"))
    })
}
