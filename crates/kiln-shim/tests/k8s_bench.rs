//! The Kubernetes benchmark (`bench/k8s/run.sh` runs it, with release
//! binaries): `examples/http-hello` as a Kiln pod beside the same program
//! as an ordinary container (a static native binary in an OCI image) under
//! runc, through the same containerd and CRI, on the same CNI bridge.
//!
//! - Start: from CreateContainer + StartContainer in a ready pod to the
//!   first HTTP response on the pod's IP (the client retries every 1 ms),
//!   trials alternating between the runtimes.
//! - Density: N pods at once, each serving; the host memory they take
//!   (MemAvailable before and after, over N) for each runtime.
//!
//! Writes a Markdown section to `BENCH_OUT` (default: stdout). Env: `KILN_BINARIES` (the release
//! shim and kiln), `BENCH_NATIVE` (the static native http-hello),
//! `BENCH_TRIALS` (default 20), `BENCH_PODS` (default 200).

mod support;

use std::time::{Duration, Instant};

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

fn mem_available_kib() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemAvailable")
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

const RUNTIMES: [Runtime; 2] = [
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

/// Creates and starts the pod's http-hello; the pod's IP answers after.
fn start_http(cri: &Cri, runtime: &Runtime, pod: &str, config: &k8s_cri::v1::PodSandboxConfig) {
    let id = cri
        .create(pod, config, "http", runtime.image, &[], Vec::new())
        .expect("CreateContainer");
    cri.start_container(&id).expect("StartContainer");
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
    let mut failed: [Option<String>; 2] = [None, None];
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
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
            start_http(&cri, runtime, &pod, &config);
            let body = http_get_polling(&ip, Duration::from_millis(1));
            times[r].push(started.elapsed().as_secs_f64() * 1e3);
            assert!(body.starts_with("Hello from Kiln!"), "{body}");
            cri.stop_and_remove_pod(&pod);
        }
        let last: Vec<_> = times.iter().map(|t| t.last()).collect();
        eprintln!("trial {trial}: {last:?} ms");
    }

    let mut memory = [0f64; 2];
    for (r, runtime) in RUNTIMES.iter().enumerate() {
        if failed[r].is_some() {
            continue;
        }
        // Let the previous runtime's pods finish going.
        std::thread::sleep(Duration::from_secs(5));
        let before = mem_available_kib();
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
        let after = mem_available_kib();
        memory[r] = before.saturating_sub(after) as f64 / 1024.0 / pods as f64;
        eprintln!(
            "{pods} {} pods serving: {:.2} MiB each",
            runtime.handler, memory[r]
        );
        for (pod, _) in &running {
            cri.stop_and_remove_pod(pod);
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
        "| from CreateContainer+StartContainer to the first HTTP response | median | p90 |"
    )
    .expect("format");
    writeln!(out, "|---|---|---|").expect("format");
    let mut medians = [None, None];
    for (r, runtime) in RUNTIMES.iter().enumerate() {
        match &failed[r] {
            Some(why) => writeln!(out, "| {} | could not run: `{why}` | |", runtime.name),
            None => {
                let median = median(&mut times[r]);
                medians[r] = Some(median);
                let p90 = p90(&mut times[r]);
                writeln!(out, "| {} | {median:.1} ms | {p90:.1} ms |", runtime.name)
            }
        }
        .expect("format");
    }
    if let [Some(kiln), Some(runc)] = medians {
        writeln!(
            out,
            "\nRatio Kiln / runc (medians): **{:.2}x** (target ≤ 0.5x).",
            kiln / runc
        )
        .expect("format");
    }
    writeln!(
        out,
        "\n| {pods} pods serving at once | host memory per pod (MemAvailable drop / {pods}) |"
    )
    .expect("format");
    writeln!(out, "|---|---|").expect("format");
    for (r, runtime) in RUNTIMES.iter().enumerate() {
        if failed[r].is_none() {
            writeln!(out, "| {} | {:.2} MiB |", runtime.name, memory[r]).expect("format");
        }
    }
    match std::env::var_os("BENCH_OUT") {
        Some(path) => std::fs::write(path, out).expect("write BENCH_OUT"),
        None => print!("{out}"),
    }
}
