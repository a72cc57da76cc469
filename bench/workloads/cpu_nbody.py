"""CPU-bound pure Python: an n-body simulation (floats, tuples, tight loops).

Stands for numeric code with few calls and many bytecodes per frame, the case
where a profiler's per-sample cost matters least and signal/safepoint bias
shows most. run(scale) advances the system a fixed number of steps."""

SOLAR_MASS = 4 * 3.141592653589793 ** 2
DAYS = 365.24


def _bodies():
    return [
        [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], SOLAR_MASS],
        [[4.84, -1.16, -0.10], [0.00166 * DAYS, 0.00770 * DAYS, -0.0000690 * DAYS], 0.000954 * SOLAR_MASS],
        [[8.34, 4.12, -0.40], [-0.00276 * DAYS, 0.00499 * DAYS, 0.0000230 * DAYS], 0.000286 * SOLAR_MASS],
        [[12.89, -15.11, -0.22], [0.00296 * DAYS, 0.00237 * DAYS, -0.0000296 * DAYS], 0.0000437 * SOLAR_MASS],
        [[15.38, -25.92, 0.18], [0.00268 * DAYS, 0.00163 * DAYS, -0.0000951 * DAYS], 0.0000515 * SOLAR_MASS],
    ]


def advance(bodies, pairs, dt):
    for (r1, v1, m1), (r2, v2, m2) in pairs:
        dx = r1[0] - r2[0]
        dy = r1[1] - r2[1]
        dz = r1[2] - r2[2]
        mag = dt * ((dx * dx + dy * dy + dz * dz) ** -1.5)
        b1 = m1 * mag
        b2 = m2 * mag
        v1[0] -= dx * b2
        v1[1] -= dy * b2
        v1[2] -= dz * b2
        v2[0] += dx * b1
        v2[1] += dy * b1
        v2[2] += dz * b1
    for r, v, _ in bodies:
        r[0] += dt * v[0]
        r[1] += dt * v[1]
        r[2] += dt * v[2]


def energy(bodies, pairs):
    e = 0.0
    for (r1, _, m1), (r2, _, m2) in pairs:
        dx, dy, dz = r1[0] - r2[0], r1[1] - r2[1], r1[2] - r2[2]
        e -= (m1 * m2) / ((dx * dx + dy * dy + dz * dz) ** 0.5)
    for _, v, m in bodies:
        e += m * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) / 2.0
    return e


def run(scale):
    bodies = _bodies()
    pairs = [(bodies[i], bodies[j]) for i in range(len(bodies)) for j in range(i + 1, len(bodies))]
    steps = int(70_000 * scale)
    for _ in range(steps // 1000):
        for _ in range(1000):
            advance(bodies, pairs, 0.01)
    return {"energy": round(energy(bodies, pairs), 6)}
