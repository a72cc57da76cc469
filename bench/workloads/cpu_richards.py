"""CPU-bound pure Python: a Richards-style task scheduler (dispatch, queues).

Stands for branchy control code: a scheduler switching between task objects
through polymorphic method calls, with medium-depth stacks. run(scale) runs
a fixed number of scheduler rounds."""


class Packet:
    __slots__ = ("link", "kind", "datum")

    def __init__(self, link, kind):
        self.link, self.kind, self.datum = link, kind, 0


class Task:
    def __init__(self, scheduler, ident, priority):
        self.scheduler, self.ident, self.priority = scheduler, ident, priority
        self.queue = []
        self.held = False

    def step(self, packet):
        raise NotImplementedError


class IdleTask(Task):
    def __init__(self, scheduler, ident, priority, count):
        super().__init__(scheduler, ident, priority)
        self.seed, self.count = 1, count

    def step(self, packet):
        self.count -= 1
        if self.count == 0:
            return self.scheduler.hold_self()
        if self.seed & 1 == 0:
            self.seed >>= 1
            return self.scheduler.release(4)
        self.seed = (self.seed >> 1) ^ 0xD008
        return self.scheduler.release(5)


class WorkTask(Task):
    def __init__(self, scheduler, ident, priority):
        super().__init__(scheduler, ident, priority)
        self.dest, self.count = 2, 0

    def step(self, packet):
        if packet is None:
            return self.scheduler.wait()
        self.dest = 3 if self.dest == 2 else 2
        packet.datum = self.count = (self.count + 1) % 26
        return self.scheduler.queue_packet(packet, self.dest)


class HandlerTask(Task):
    def step(self, packet):
        if packet is not None:
            self.queue.append(packet)
        if self.queue:
            p = self.queue.pop(0)
            p.datum = (p.datum * 7 + 3) % 101
            return self.scheduler.queue_packet(p, 4 + (p.datum & 1))
        return self.scheduler.wait()


class DeviceTask(Task):
    def step(self, packet):
        if packet is None:
            return self.scheduler.wait()
        self.scheduler.counter += packet.datum
        return self.scheduler.queue_packet(packet, 1) if packet.datum % 3 == 0 else self.scheduler.hold_self()


class Scheduler:
    def __init__(self, count):
        self.counter = 0
        self.tasks = {}
        self.tasks[0] = IdleTask(self, 0, 0, count)
        self.tasks[1] = WorkTask(self, 1, 1000)
        self.tasks[2] = HandlerTask(self, 2, 2000)
        self.tasks[3] = HandlerTask(self, 3, 3000)
        self.tasks[4] = DeviceTask(self, 4, 4000)
        self.tasks[5] = DeviceTask(self, 5, 5000)
        self.pending = [(1, Packet(None, 0)), (2, Packet(None, 1)), (3, Packet(None, 1))]
        self.current = self.tasks[0]

    def hold_self(self):
        self.current.held = True
        return None

    def release(self, ident):
        self.tasks[ident].held = False
        return None

    def wait(self):
        return None

    def queue_packet(self, packet, dest):
        self.pending.append((dest, packet))
        return None

    def schedule(self):
        rounds = 0
        while self.tasks[0].count > 0:
            rounds += 1
            if self.pending:
                dest, packet = self.pending.pop(0)
                task = self.tasks[dest]
                task.held = False
                self.current = task
                task.step(packet)
            for ident in (5, 4, 3, 2, 1, 0):
                task = self.tasks[ident]
                if not task.held or ident == 0:
                    self.current = task
                    task.step(None)
                    if ident == 0:
                        break
        return rounds


def run(scale):
    s = Scheduler(int(420_000 * scale))
    rounds = s.schedule()
    return {"rounds": rounds, "counter": s.counter}
