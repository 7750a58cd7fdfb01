#!/usr/bin/env python3
"""Milliseconds from starting `kiln run ... -p PORT:80 IMAGE` to the first
complete HTTP 200 response on 127.0.0.1:PORT.

The client retries its connect every 0.5 ms (a refused connect costs
microseconds), instead of a new curl process per attempt (several ms each
here). Fails if kiln exits first or nothing answers in 10 s.

    first_response.py PORT KILN ARG...
"""
import socket
import subprocess
import sys
import time

port, command = int(sys.argv[1]), sys.argv[2:]
start = time.monotonic()
kiln = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while True:
        if kiln.poll() is not None:
            sys.exit(f"kiln exited with {kiln.returncode} before answering")
        if time.monotonic() - start > 10:
            sys.exit("no answer in 10 s")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                response = b""
                while chunk := s.recv(4096):
                    response += chunk
            if response.startswith(b"HTTP/1.1 200"):
                break
        except OSError:
            pass
        time.sleep(0.0005)
    print(f"{(time.monotonic() - start) * 1000:.3f}")
finally:
    kiln.terminate()
    kiln.wait()
