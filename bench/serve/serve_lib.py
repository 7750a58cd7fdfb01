"""What the kiln serve benchmarks share: starting kiln serve ($KILN serving
$IMAGE, an examples/http-static build) and timing one request."""
import atexit, os, socket, subprocess, sys, threading, time

E = os.environ
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def children(pid):
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += f.read().split()
        except FileNotFoundError:  # a connection thread that just ended
            pass
    return found

def has_vm(pid):
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith("anon_inode:kvm-vm")
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:  # it just ended
        return False

def start(idle, *flags):
    port = free_port()
    cmd = [E["KILN"], "serve", *flags, "-p", f"127.0.0.1:{port}:80", "--idle", idle,
           "--memory", "32M", E["IMAGE"]]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    # An error exit must not leave kiln serve (and its instances) behind.
    atexit.register(stop, proc)
    line = proc.stderr.readline()
    if "listening on" not in line:
        sys.exit(f"error: kiln serve did not start: {line}")
    # Keep reading its boot/stop lines so it never blocks on a full pipe.
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, port, " ".join(cmd)

def request(port):
    """Milliseconds from connect to the end of the full response, or None
    for a request that got no answer within 10 s (counted and reported)."""
    try:
        return timed_request(port)
    except socket.timeout:
        return None

def timed_request(port):
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(REQUEST)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    t1 = time.perf_counter()
    if not data.startswith(b"HTTP/1.1 200"):
        sys.exit(f"error: bad response: {data[:80]!r}")
    return (t1 - t0) * 1e3

def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        proc.wait()
