//! The Kubernetes benchmark (`bench/k8s/run.sh` runs it, with release
//! binaries): `examples/http-hello` as a Kiln pod beside the same program
//! as an ordinary container (a static native binary in an OCI image) under
//! runc and under crun, through the same containerd and CRI, on the same
//! CNI bridge.
//!
//! - Start: from CreateContainer + StartContainer in a ready pod to the
//!   first HTTP response on the pod's IP (the client retries every 1 ms),
//!   trials alternating between the runtimes.
//! - Density: N pods at once, each serving; per pod, for each runtime, the
//!   summed PSS of the pods' processes (shims and all under them) and the
//!   drop of MemAvailable (which adds kernel memory, but moves with
//!   anything else the machine does), over N.
//!
//! Writes a Markdown section to `BENCH_OUT` (default: stdout). Env: `KILN_BINARIES` (the release
//! shim and kiln), `BENCH_NATIVE` (the static native http-hello),
//! `BENCH_TRIALS` (default 20), `BENCH_PODS` (default 200).

mod support;

use std::time::{Duration, Instant};

use k8s_cri::v1::{RemovePodSandboxRequest, StopPodSandboxRequest};
use support::cri::{Cri, HTTP_IMAGE, http_get_polling};
use support::oci_image;

const NATIVE_IMAGE: &str = "docker.io/library/kiln-bench-native-http:v1";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number"))
        })
        .unwrap_or(default)
}

/// The sum of `fields` of /proc/meminfo, in KiB.
fn meminfo_kib(fields: &[&str]) -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    fields
        .iter()
        .map(|field| {
            meminfo
                .lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{field} in /proc/meminfo"))
        })
        .sum()
}

/// The kernel memory a pod holds that no process's PSS shows (network
/// namespaces and devices, cgroups, KVM's VM, vCPU and shadow page tables,
/// page tables, kernel stacks), and that a build on the same machine moves
/// little (unlike the dentry and inode caches, which are reclaimable).
const KERNEL: [&str; 5] = [
    "SUnreclaim",
    "KernelStack",
    "PageTables",
    "SecPageTables",
    "Percpu",
];

/// Host memory in use, before or after the pods: (MemAvailable, kernel).
fn host_memory_kib() -> (u64, u64) {
    (meminfo_kib(&["MemAvailable"]), meminfo_kib(&KERNEL))
}

/// The summed proportional set size (a page shared by N processes counts
/// 1/N) of what runs this containerd's pods: its shims (their command line
/// names its socket) and every process under them (sandboxes, programs,
/// Kiln monitors with their guests' memory). Unlike MemAvailable, other
/// work on the machine does not move it; it leaves out kernel memory.
fn pods_pss_kib(socket: &str) -> u64 {
    let mut processes = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let (Ok(stat), Ok(cmdline)) = (
            std::fs::read_to_string(entry.path().join("stat")),
            std::fs::read(entry.path().join("cmdline")),
        ) else {
            continue;
        };
        // The parent is the second field after the command's closing ')'.
        let Some(parent) = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let shim = cmdline.contains("containerd-shim") && cmdline.contains(socket);
        processes.push((pid, parent, shim));
    }
    let mut ours: Vec<u32> = processes
        .iter()
        .filter(|(_, _, shim)| *shim)
        .map(|(pid, _, _)| *pid)
        .collect();
    let mut next = 0;
    while next < ours.len() {
        let parent = ours[next];
        ours.extend(
            processes
                .iter()
                .filter(|(_, p, shim)| *p == parent && !shim)
                .map(|(pid, _, _)| *pid),
        );
        next += 1;
    }
    ours.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|rollup| {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn p90(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() * 9 / 10).min(values.len() - 1)]
}

/// One runtime under test: its CRI handler and image.
struct Runtime {
    name: &'static str,
    handler: &'static str,
    image: &'static str,
}

const RUNTIMES: [Runtime; 3] = [
    Runtime {
        name: "Kiln (`kiln` handler)",
        handler: "kiln",
        image: HTTP_IMAGE,
    },
    Runtime {
        name: "runc (static native binary)",
        handler: "runc",
        image: NATIVE_IMAGE,
    },
    Runtime {
        name: "crun (static native binary)",
        handler: "crun",
        image: NATIVE_IMAGE,
    },
];

/// A ready pod of `runtime` named `name`; its id, config and IP, or why
/// CRI could not make it.
fn ready_pod(
    cri: &Cri,
    runtime: &Runtime,
    name: &str,
) -> Result<(String, k8s_cri::v1::PodSandboxConfig, String), String> {
    let config = cri.pod_config(name, false);
    let pod = cri
        .try_run_pod_with(&config, runtime.handler)
        .map_err(|status| status.message().to_string())?;
    let (ip, _, _) = cri.pod_status(&pod);
    Ok((pod, config, ip))
}

/// StopPodSandbox, retried (as kubelet retries it) when it fails, then
/// RemovePodSandbox. Each failure is kept in `failures` for the report.
fn stop_and_remove(cri: &Cri, pod: &str, failures: &mut Vec<String>) {
    for attempt in 1.. {
        let id = pod.to_string();
        match cri.try_call(|mut c| async move {
            c.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: id })
                .await
        }) {
            Ok(_) => break,
            Err(status) if attempt < 3 => {
                eprintln!(
                    "StopPodSandbox {pod} failed, retrying: {}",
                    status.message()
                );
                failures.push(status.message().to_string());
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(status) => panic!("StopPodSandbox {pod} failed {attempt} times: {status}"),
        }
    }
    let id = pod.to_string();
    cri.call(|mut c| async move {
        c.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
            .await
    });
}

/// Creates and starts the pod's http-hello (the pod's IP answers after);
/// how long CreateContainer and StartContainer took, in ms.
fn start_http(
    cri: &Cri,
    runtime: &Runtime,
    pod: &str,
    config: &k8s_cri::v1::PodSandboxConfig,
) -> [f64; 2] {
    let started = Instant::now();
    let id = cri
        .create(pod, config, "http", runtime.image, &[], Vec::new())
        .expect("CreateContainer");
    let created = Instant::now();
    cri.start_container(&id).expect("StartContainer");
    [
        (created - started).as_secs_f64() * 1e3,
        created.elapsed().as_secs_f64() * 1e3,
    ]
}

#[test]
#[ignore = "a benchmark: bench/k8s/run.sh runs it with release binaries"]
fn k8s_start_and_density() {
    let trials = env_number("BENCH_TRIALS", 20);
    let pods = env_number("BENCH_PODS", 200);
    let native = std::env::var("BENCH_NATIVE").expect("BENCH_NATIVE: the static native http-hello");
    let cri = Cri::start("k8s-bench", 9);
    let program = std::fs::read(&native).expect("the native http-hello");
    let archive = oci_image(
        &cri.containerd.dir,
        NATIVE_IMAGE,
        &[("http-hello", &program)],
        "/http-hello",
    );
    cri.containerd
        .ctr(&["image", "import", archive.to_str().expect("utf-8")]);

    // Why a runtime could not run pods on this host, if it could not (the
    // report says so instead of a figure).
    let mut failed: [Option<String>; RUNTIMES.len()] = Default::default();
    let mut times: [Vec<f64>; RUNTIMES.len()] = Default::default();
    // StopPodSandbox calls that failed (and were retried).
    let mut stop_failures: [Vec<String>; RUNTIMES.len()] = Default::default();
    // Of which the CreateContainer and the StartContainer calls.
    let mut calls: [[Vec<f64>; 2]; RUNTIMES.len()] = Default::default();
    for trial in 0..trials {
        for (r, runtime) in RUNTIMES.iter().enumerate() {
            if failed[r].is_some() {
                continue;
            }
            let name = format!("start-{}-{trial}", runtime.handler);
            let (pod, config, ip) = match ready_pod(&cri, runtime, &name) {
                Ok(ready) => ready,
                Err(why) => {
                    eprintln!("{}: RunPodSandbox failed: {why}", runtime.handler);
                    failed[r] = Some(why);
                    continue;
                }
            };
            let started = Instant::now();
            let [create, start] = start_http(&cri, runtime, &pod, &config);
            calls[r][0].push(create);
            calls[r][1].push(start);
            let body = http_get_polling(&ip, Duration::from_millis(1));
            times[r].push(started.elapsed().as_secs_f64() * 1e3);
            assert!(body.starts_with("Hello from Kiln!"), "{body}");
            stop_and_remove(&cri, &pod, &mut stop_failures[r]);
        }
        let last: Vec<_> = times.iter().map(|t| t.last()).collect();
        eprintln!("trial {trial}: {last:?} ms");
    }

    let socket = cri.containerd.socket.display().to_string();
    // Per pod, in MiB: [summed PSS, kernel memory, MemAvailable drop].
    let mut memory = [[0f64; 3]; RUNTIMES.len()];
    for (r, runtime) in RUNTIMES.iter().enumerate() {
        if failed[r].is_some() {
            continue;
        }
        // Let the previous runtime's pods finish going: their shims first,
        // then what the kernel frees after them.
        cri.containerd
            .wait_for("the previous pods' shims to exit", || {
                pods_pss_kib(&socket) == 0
            });
        std::thread::sleep(Duration::from_secs(5));
        let before = host_memory_kib();
        let mut running = Vec::new();
        for n in 0..pods {
            let name = format!("dense-{}-{n}", runtime.handler);
            let (pod, config, ip) = ready_pod(&cri, runtime, &name).expect("RunPodSandbox");
            start_http(&cri, runtime, &pod, &config);
            running.push((pod, ip));
        }
        for (_, ip) in &running {
            let body = http_get_polling(ip, Duration::from_millis(5));
            assert!(body.starts_with("Hello from Kiln!"), "{body}");
        }
        std::thread::sleep(Duration::from_secs(2));
        let pss = pods_pss_kib(&socket);
        let after = host_memory_kib();
        // Differences can be negative: other work on the machine moves
        // these too.
        let per_pod = |kib: i64| kib as f64 / 1024.0 / pods as f64;
        memory[r] = [
            per_pod(pss as i64),
            per_pod(after.1 as i64 - before.1 as i64),
            per_pod(before.0 as i64 - after.0 as i64),
        ];
        eprintln!(
            "{pods} {} pods serving, per pod: {:.2?} MiB (PSS, kernel, MemAvailable)",
            runtime.handler, memory[r]
        );
        for (pod, _) in &running {
            stop_and_remove(&cri, pod, &mut stop_failures[r]);
        }
    }

    use std::fmt::Write;
    let mut out = String::new();
    writeln!(
        out,
        "## Kubernetes pods through CRI (containerd 1.6, CNI bridge)\n"
    )
    .expect("format");
    writeln!(
        out,
        "`bench/k8s/run.sh`, {trials} trials per runtime, alternating; {pods} pods for density.\n"
    )
    .expect("format");
    writeln!(
        out,
        "| from CreateContainer+StartContainer to the first HTTP response | median | p90 | median CreateContainer call | median StartContainer call |"
    )
    .expect("format");
    writeln!(out, "|---|---|---|---|---|").expect("format");
    let mut medians = [None; RUNTIMES.len()];
    for (r, runtime) in RUNTIMES.iter().enumerate() {
        match &failed[r] {
            Some(why) => writeln!(out, "| {} | could not run: `{why}` | | | |", runtime.name),
            None => {
                let total = median(&mut times[r]);
                medians[r] = Some(total);
                let p90 = p90(&mut times[r]);
                let create = median(&mut calls[r][0]);
                let start = median(&mut calls[r][1]);
                writeln!(
                    out,
                    "| {} | {total:.1} ms | {p90:.1} ms | {create:.1} ms | {start:.1} ms |",
                    runtime.name
                )
            }
        }
        .expect("format");
    }
    if let Some(kiln) = medians[0] {
        for (r, runtime) in RUNTIMES.iter().enumerate().skip(1) {
            if let Some(other) = medians[r] {
                writeln!(
                    out,
                    "\nRatio Kiln / {} (medians): **{:.2}x** (target ≤ 0.5x of runc's).",
                    runtime.handler,
                    kiln / other
                )
                .expect("format");
            }
        }
    }
    writeln!(
        out,
        "\n| {pods} pods serving at once, per pod | PSS of the shims and all under them | + kernel memory (rise of {}) | = host memory | MemAvailable drop (noisy) |",
        KERNEL.join(" + ")
    )
    .expect("format");
    writeln!(out, "|---|---|---|---|---|").expect("format");
    for (r, runtime) in RUNTIMES.iter().enumerate() {
        if failed[r].is_none() {
            let [pss, kernel, available] = memory[r];
            writeln!(
                out,
                "| {} | {pss:.2} MiB | {kernel:.2} MiB | **{:.2} MiB** | {available:.2} MiB |",
                runtime.name,
                pss + kernel
            )
            .expect("format");
        }
    }
    for (r, runtime) in RUNTIMES.iter().enumerate() {
        if let Some(first) = stop_failures[r].first() {
            writeln!(
                out,
                "\n{}: {} of {} StopPodSandbox calls failed and were retried (first: `{first}`).",
                runtime.name,
                stop_failures[r].len(),
                trials + pods
            )
            .expect("format");
        }
    }
    match std::env::var_os("BENCH_OUT") {
        Some(path) => std::fs::write(path, out).expect("write BENCH_OUT"),
        None => print!("{out}"),
    }
}
