"""A small order-processing service used by `make demo` and the tests.

It has the shapes a profile should show: CPU-heavy pricing, JSON encoding,
worker threads waiting on a queue and a shared lock, slow "database" calls
(sleep), rejected orders raising exceptions, and allocations that stay alive
in a cache. Runs for the number of seconds given as the first argument."""
import json
import queue
import random
import sys
import threading
import time

PRICE_CACHE = {}
CACHE_LOCK = threading.Lock()
ORDERS = queue.Queue()


class InvalidOrder(ValueError):
    pass


def price_item(sku, quantity):
    # Deliberately CPU-bound: a small numeric model per item.
    price = 0.0
    for step in range(400):
        price += ((sku * 31 + step) % 97) * 0.01 * quantity
    return round(price, 2)


def validate(order):
    if order["quantity"] <= 0:
        raise InvalidOrder(f"order {order['id']}: quantity must be positive")
    return order


def price_order(order):
    total = 0.0
    for sku in order["items"]:
        with CACHE_LOCK:
            cached = PRICE_CACHE.get((sku, order["quantity"]))
        if cached is None:
            cached = price_item(sku, order["quantity"])
            with CACHE_LOCK:
                if len(PRICE_CACHE) < 50_000:
                    PRICE_CACHE[(sku, order["quantity"])] = cached
        total += cached
    return total


def save_to_database(order, total):
    time.sleep(0.002)   # a network round trip
    return json.dumps({"order": order, "total": total})


def worker(stop):
    while not stop.is_set():
        try:
            order = ORDERS.get(timeout=0.1)
        except queue.Empty:
            continue
        try:
            total = price_order(validate(order))
            save_to_database(order, total)
        except InvalidOrder:
            pass


def produce_orders(seconds):
    rng = random.Random(7)
    end = time.monotonic() + seconds
    order_id = 0
    while time.monotonic() < end:
        order_id += 1
        ORDERS.put({"id": order_id, "quantity": rng.randint(-1, 20),
                    "items": [rng.randint(1, 5000) for _ in range(rng.randint(1, 8))]})
        if ORDERS.qsize() > 200:
            time.sleep(0.01)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    stop = threading.Event()
    workers = [threading.Thread(target=worker, args=(stop,), name=f"order-worker-{i}") for i in range(4)]
    for t in workers:
        t.start()
    produce_orders(seconds)
    stop.set()
    for t in workers:
        t.join()
    print(f"sample app: priced {len(PRICE_CACHE)} distinct items")


if __name__ == "__main__":
    main()
