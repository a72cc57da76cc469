"""CPU-bound pure Python: a small ray tracer (objects, method calls, allocation).

Stands for object-heavy code: many short method calls and short-lived
objects, so frames come and go fast under the sampler. run(scale) renders a
fixed number of rows of a fixed scene."""
import math


class Vec:
    __slots__ = ("x", "y", "z")

    def __init__(self, x, y, z):
        self.x, self.y, self.z = x, y, z

    def add(self, o):
        return Vec(self.x + o.x, self.y + o.y, self.z + o.z)

    def sub(self, o):
        return Vec(self.x - o.x, self.y - o.y, self.z - o.z)

    def scale(self, k):
        return Vec(self.x * k, self.y * k, self.z * k)

    def dot(self, o):
        return self.x * o.x + self.y * o.y + self.z * o.z

    def norm(self):
        return self.scale(1.0 / math.sqrt(self.dot(self)))


class Sphere:
    def __init__(self, centre, radius, colour):
        self.centre, self.radius, self.colour = centre, radius, colour

    def hit(self, origin, direction):
        oc = origin.sub(self.centre)
        b = oc.dot(direction)
        c = oc.dot(oc) - self.radius * self.radius
        disc = b * b - c
        if disc < 0:
            return None
        t = -b - math.sqrt(disc)
        return t if t > 1e-4 else None


class Scene:
    def __init__(self):
        self.objects = [Sphere(Vec(x * 1.5, y * 1.5, 6 + (x + y) % 3), 0.6, (x % 2, y % 2, 0.5))
                        for x in range(-2, 3) for y in range(-2, 3)]
        self.light = Vec(-5, 5, -5)

    def trace(self, origin, direction, depth):
        best, best_t = None, 1e30
        for obj in self.objects:
            t = obj.hit(origin, direction)
            if t is not None and t < best_t:
                best, best_t = obj, t
        if best is None:
            return 0.1
        point = origin.add(direction.scale(best_t))
        normal = point.sub(best.centre).norm()
        to_light = self.light.sub(point).norm()
        shade = max(0.0, normal.dot(to_light))
        if depth < 2:
            reflect = direction.sub(normal.scale(2 * direction.dot(normal)))
            shade = 0.7 * shade + 0.3 * self.trace(point, reflect.norm(), depth + 1)
        return shade


def render_row(scene, y, width, height):
    eye = Vec(0, 0, -1)
    total = 0.0
    for x in range(width):
        d = Vec((x - width / 2) / width, (y - height / 2) / height, 1).norm()
        total += scene.trace(eye, d, 0)
    return total


def run(scale):
    scene = Scene()
    width = height = 96
    rows = int(130 * scale)
    total = 0.0
    for i in range(rows):
        total += render_row(scene, i % height, width, height)
    return {"checksum": round(total, 3)}
