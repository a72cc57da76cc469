"""A threaded program: 8 threads mixing CPU, sleep, lock contention and loopback I/O.

Stands for a typical service process where most threads wait most of the
time: the sampler must walk every thread each tick (wall time) while only
some burn CPU, and the lock profiler sees real contention. run(scale) does a
fixed number of rounds per thread; the elapsed time is the slowest thread's."""
import socket
import threading
import time


def _cpu(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def _echo_server(sock, stop):
    sock.settimeout(0.2)
    conns = []
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        conns.append(conn)
        threading.Thread(target=_echo_conn, args=(conn,), name="echo-conn", daemon=True).start()
    for c in conns:
        c.close()


def _echo_conn(conn):
    try:
        while True:
            data = conn.recv(4096)
            if not data:
                return
            conn.sendall(data)
    except OSError:
        return


def _worker(kind, rounds, lock, shared, port):
    sock = None
    if kind == "io":
        sock = socket.create_connection(("127.0.0.1", port))
    payload = b"x" * 1024
    for r in range(rounds):
        if kind == "cpu":
            _cpu(20_000)
        elif kind == "sleep":
            time.sleep(0.002)
            _cpu(2_000)
        elif kind == "lock":
            with lock:
                shared[0] = _cpu(3_000) + shared[0]
            _cpu(1_000)
        else:
            sock.sendall(payload)
            got = 0
            while got < len(payload):
                got += len(sock.recv(4096))
            _cpu(1_000)
    if sock:
        sock.close()


def run(scale):
    rounds = int(160 * scale)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()
    server = threading.Thread(target=_echo_server, args=(listener, stop), name="echo-server", daemon=True)
    server.start()
    lock, shared = threading.Lock(), [0]
    kinds = ["cpu", "cpu", "sleep", "sleep", "lock", "lock", "io", "io"]
    threads = [threading.Thread(target=_worker, name=f"{k}-{i}",
                                args=(k, rounds, lock, shared, listener.getsockname()[1]))
               for i, k in enumerate(kinds)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    listener.close()
    server.join()
    return {"threads": len(threads)}
