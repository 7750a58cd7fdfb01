//! Kiln pods through the CRI, the gRPC interface kubelet drives: each test
//! starts a private containerd with its CRI plugin, a `kiln` runtime
//! handler (`io.containerd.kiln.v1`), a `runc` one for ordinary
//! containers, and a CNI bridge network of its own
//! (Debian's containernetworking-plugins), and talks to it with the
//! `k8s-cri` crate's client, as kubelet would. The sandbox image is a
//! native static "pause" made by the tests, imported with `ctr`: nothing
//! can be pulled. The guests are real VMs.

mod support;

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_cri::v1::{
    ContainerState, ImageSpec, ImageStatusRequest, Mount, RemoveContainerRequest,
    RemovePodSandboxRequest, StopPodSandboxRequest,
};
use support::cri::{CAT_IMAGE, Cri, EXIT_IMAGE, HTTP_IMAGE, PAUSE_IMAGE, exists, gone, http_get};
use support::{script_image, text};

#[test]
fn a_kiln_pod_serves_http_on_its_pod_ip_and_leaves_nothing_behind() {
    let cri = Cri::start("cri-http", 1);
    let image = HTTP_IMAGE.to_string();
    let present = cri
        .runtime
        .block_on(cri.images.clone().image_status(ImageStatusRequest {
            image: Some(ImageSpec {
                image,
                ..Default::default()
            }),
            verbose: false,
        }))
        .expect("ImageStatus")
        .into_inner();
    assert!(
        present.image.is_some(),
        "the imported image is known to CRI"
    );

    let config = cri.pod_config("web", false);
    let pod = cri.run_pod(&config);
    let (ip, holder, netns) = cri.pod_status(&pod);
    assert!(ip.starts_with("10.234.1."), "the pod's IP from CNI: {ip}");
    let netns = netns.expect("a pod network namespace");
    assert!(exists(&netns), "{netns}");
    // The sandbox boots nothing: its process is the shim's holder, inside
    // the pod's network namespace.
    let cmdline = text(&std::fs::read(format!("/proc/{holder}/cmdline")).expect("the holder"));
    assert!(cmdline.ends_with("hold-pod\0"), "{cmdline:?}");
    let inode = |path: &str| std::fs::metadata(path).expect("a namespace").ino();
    assert_eq!(inode(&format!("/proc/{holder}/ns/net")), inode(&netns));
    assert!(cri.guests().is_empty(), "no VM for the sandbox");

    let container = cri
        .create(&pod, &config, "http", HTTP_IMAGE, &[], Vec::new())
        .expect("CreateContainer");
    cri.start_container(&container).expect("StartContainer");
    let body = http_get(&ip);
    assert_eq!(body, "Hello from Kiln!\n");
    assert_eq!(
        cri.container_state(&container).0,
        ContainerState::ContainerRunning
    );
    let guests = cri.guests();
    assert_eq!(guests.len(), 1, "one VM: {guests:?}");
    let shims = cri.containerd.shims();
    assert_eq!(
        shims.len(),
        1,
        "the pod's containers share one shim: {shims:?}"
    );
    assert!(
        guests[0].1.contains(&format!(
            " --net tap:kiln0 --ip {ip}/24 --gateway 10.234.1.1 "
        )),
        "the guest has the pod's address: {}",
        guests[0].1
    );
    // The guest answers on the bridge with the pod interface's MAC (each
    // pod's own), not Kiln's default one.
    let mac = guests[0]
        .1
        .split(" --mac ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next());
    let mac = mac.expect("a --mac flag").to_string();
    assert_ne!(mac, "52:54:00:12:34:56");
    let neighbour = Command::new("ip")
        .args(["neigh", "show", &ip])
        .output()
        .expect("ip");
    assert!(
        text(&neighbour.stdout).contains(&format!("lladdr {mac} ")),
        "{}",
        text(&neighbour.stdout)
    );
    // A pod has one address: a second guest in it is refused, clearly,
    // and the first keeps serving.
    let second = cri
        .create(&pod, &config, "second", HTTP_IMAGE, &[], Vec::new())
        .expect("CreateContainer");
    let error = cri
        .start_container(&second)
        .expect_err("one address per pod");
    assert!(
        error
            .message()
            .contains("this pod's network already belongs to a Kiln guest"),
        "{error}"
    );
    assert_eq!(http_get(&ip), "Hello from Kiln!\n");
    // The guest's output is in the CRI log file, in CRI's format.
    let log = cri.container_log("web", "http");
    assert!(
        log.lines()
            .any(|l| l.ends_with(" stdout F http-hello: listening on port 80")),
        "{log}"
    );

    cri.stop_and_remove_pod(&pod);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(cri.guests().is_empty() && gone(holder) && !exists(&netns)) {
        assert!(
            Instant::now() < deadline,
            "pod leftovers: {:?}",
            cri.guests()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        cri.containerd.mounts(),
        Vec::<String>::new(),
        "no mount left"
    );
    let tap = Command::new("ip")
        .args(["link", "show", "dev", "kiln0"])
        .output();
    assert!(
        !tap.expect("ip").status.success(),
        "no TAP device on the host"
    );
}

#[test]
fn exit_codes_logs_and_read_only_mounts_reach_cri_in_a_host_network_pod() {
    let cri = Cri::start("cri-exit", 2);
    let config = cri.pod_config("jobs", true);
    let pod = cri.run_pod(&config);
    let (_, _, netns) = cri.pod_status(&pod);
    assert_eq!(
        netns, None,
        "a host-network pod has no namespace of its own"
    );

    let exits = cri
        .create(&pod, &config, "exits", EXIT_IMAGE, &["3"], Vec::new())
        .expect("CreateContainer");
    cri.start_container(&exits).expect("StartContainer");
    assert_eq!(cri.wait_exit(&exits), 3, "the guest's exit code");

    // A ConfigMap, laid out as kubelet writes one (each key a link
    // through `..data` to a timestamped directory, swapped on update),
    // read-only, read by the program.
    let config_map = cri.containerd.dir.join("configmap");
    let version = config_map.join("..2026_12_07_15_00_00.000000001");
    std::fs::create_dir_all(&version).expect("mkdir");
    std::fs::write(version.join("greeting"), "hello from a ConfigMap\n").expect("write");
    std::os::unix::fs::symlink("..2026_12_07_15_00_00.000000001", config_map.join("..data"))
        .expect("symlink");
    std::os::unix::fs::symlink("..data/greeting", config_map.join("greeting")).expect("symlink");
    let mount = Mount {
        container_path: "/config".into(),
        host_path: config_map.display().to_string(),
        readonly: true,
        ..Default::default()
    };
    let reader = cri
        .create(
            &pod,
            &config,
            "reader",
            CAT_IMAGE,
            &["/config/greeting"],
            vec![mount],
        )
        .expect("CreateContainer");
    cri.start_container(&reader).expect("StartContainer");
    // The pod's shim outlived the first guest's Delete (and containerd's
    // cleanup run after it): the second guest is in it too.
    let shims = cri.containerd.shims();
    assert_eq!(shims.len(), 1, "one shim for the pod: {shims:?}");
    assert_eq!(
        cri.wait_exit(&reader),
        0,
        "{}",
        cri.container_log("jobs", "reader")
    );
    let log = cri.container_log("jobs", "reader");
    assert!(
        log.contains(" stdout F /config/greeting: hello from a ConfigMap"),
        "{log}"
    );
    assert!(
        log.contains(" stdout F writing /config/written-by-std-cat: ReadOnlyFilesystem"),
        "{log}"
    );
    assert!(!config_map.join("written-by-std-cat").exists());

    for id in [exits, reader] {
        cri.call(|mut c| async move {
            c.remove_container(RemoveContainerRequest { container_id: id })
                .await
        });
    }
    cri.stop_and_remove_pod(&pod);
    assert!(cri.guests().is_empty());
    assert_eq!(cri.containerd.mounts(), Vec::<String>::new());
}

#[test]
fn a_pod_whose_image_is_not_a_kiln_image_fails_with_a_clear_error() {
    let cri = Cri::start("cri-not-kiln", 3);
    let archive = script_image(&cri.containerd.dir);
    cri.containerd
        .ctr(&["image", "import", archive.to_str().expect("utf-8")]);
    let config = cri.pod_config("script", false);
    let pod = cri.run_pod(&config);
    let container = cri
        .create(
            &pod,
            &config,
            "script",
            support::SCRIPT_IMAGE,
            &[],
            Vec::new(),
        )
        .expect("CreateContainer");
    let error = cri
        .start_container(&container)
        .expect_err("not a Kiln image");
    assert!(
        error.message().contains("/hello.sh is not a Kiln image"),
        "{error}"
    );
    cri.stop_and_remove_pod(&pod);
    assert!(cri.guests().is_empty());
    assert_eq!(cri.containerd.mounts(), Vec::<String>::new());
}

/// The containerd the tests start runs ordinary containers too: a pod
/// with the `runc` handler (the native static pause program as both
/// sandbox and container) starts in its own network namespace and goes
/// cleanly, leaving no mount. The benchmarks compare Kiln pods with these.
#[test]
fn runc_pods_run_through_the_same_cri() {
    let cri = Cri::start("cri-runc", 4);
    let config = cri.pod_config("native", false);
    let pod = cri.run_pod_with(&config, "runc");
    let (ip, sandbox, netns) = cri.pod_status(&pod);
    assert!(ip.starts_with("10.234.4."), "the pod's IP from CNI: {ip}");
    let netns = netns.expect("a pod network namespace");
    let container = cri
        .create(&pod, &config, "pause", PAUSE_IMAGE, &[], Vec::new())
        .expect("CreateContainer");
    cri.start_container(&container).expect("StartContainer");
    assert_eq!(
        cri.container_state(&container).0,
        ContainerState::ContainerRunning
    );
    let pid = cri.container_pid(&container);
    let inode = |path: &str| std::fs::metadata(path).expect("a namespace").ino();
    for process in [sandbox, pid] {
        let exe = std::fs::read_link(format!("/proc/{process}/exe")).expect("exe");
        assert!(exe.ends_with("pause"), "{exe:?}");
        assert_eq!(
            inode(&format!("/proc/{process}/ns/net")),
            inode(&netns),
            "in the pod's network namespace"
        );
    }
    assert!(cri.guests().is_empty(), "no Kiln guest");
    cri.stop_and_remove_pod(&pod);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(gone(sandbox) && gone(pid) && !exists(&netns)) {
        assert!(Instant::now() < deadline, "pod leftovers");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(cri.containerd.mounts(), Vec::<String>::new());
}

/// StopPodSandbox kills the pod's guest, then its holder. containerd closes
/// its connection to a shim once the shim answers Shutdown, which it asks
/// for after Delete, after it sees the exit; so each Kill's answer must be
/// out before the exit it causes shows, even when the thread answering it
/// is held up (here for 200 ms after the signal, through the debug build's
/// hook standing for a preemption), or StopPodSandbox fails with
/// `ttrpc: closed` although the pod stopped.
#[test]
fn stop_pod_sandbox_gets_every_kill_answer_before_the_shims_go() {
    let delay = [("KILN_SHIM_TEST_KILL_ANSWER_DELAY_MS", "200")];
    let cri = Cri::start_with_env("cri-kill-answers", 5, &delay);
    for cycle in 0..3 {
        let config = cri.pod_config(&format!("stop{cycle}"), false);
        let pod = cri.run_pod(&config);
        let app = cri
            .create(&pod, &config, "http", HTTP_IMAGE, &[], Vec::new())
            .expect("CreateContainer");
        cri.start_container(&app).expect("StartContainer");
        let id = pod.clone();
        let stopped = cri.try_call(|mut c| async move {
            c.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: id })
                .await
        });
        if let Err(status) = stopped {
            panic!(
                "cycle {cycle}: StopPodSandbox failed: {}\ncontainerd's log:\n{}",
                status.message(),
                cri.log()
            );
        }
        let id = pod.clone();
        cri.call(|mut c| async move {
            c.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
                .await
        });
    }
    assert!(cri.guests().is_empty(), "{:?}", cri.guests());
}
