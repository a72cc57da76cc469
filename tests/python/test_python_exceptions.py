"""Thrown Exceptions profile: counts by raise site and type, sampled."""
from event_helpers import line_of, profile_run

RAISERS = """
def raise_value_errors(n):
    for i in range(n):
        try:
            raise ValueError("bad value")
        except ValueError:
            pass

def lookup_missing_keys(n):
    d = {}
    for i in range(n):
        try:
            d[i]
        except KeyError:
            pass

def exhaust_generators(n):
    for _ in range(n):
        g = (x for x in range(3))
        for _ in g:
            pass
        try:
            next(g)
        except StopIteration:
            pass

class ParseError(ValueError):
    pass

def raise_custom(n):
    for _ in range(n):
        try:
            raise ParseError
        except ParseError:
            pass

prof.start()
raise_value_errors(10_000)
lookup_missing_keys(2_000)
exhaust_generators(5_000)
raise_custom(500)
counts = native.event_counts()
prof.stop()
print(counts)
"""


def _ratio_checks(view, tolerance):
    by_fn = {name: view.in_function(name, "exception-samples")
             for name in ("raise_value_errors", "lookup_missing_keys", "exhaust_generators",
                          "raise_custom")}
    assert by_fn["lookup_missing_keys"] > 0, by_fn
    ratio = by_fn["raise_value_errors"] / by_fn["lookup_missing_keys"]
    assert abs(ratio - 5.0) <= 5.0 * tolerance, (ratio, by_fn)
    # Generators ending are not exceptions.
    assert by_fn["exhaust_generators"] == 0, by_fn
    return by_fn


def test_every_exception_counted_with_type_and_raise_site(tmp_path):
    view, out = profile_run(tmp_path, RAISERS, STACKSIGHT_EXCEPTION_SAMPLE_INTERVAL="1")
    assert "exception-samples" in view.sample_types
    by_fn = _ratio_checks(view, 0.01)
    assert by_fn["raise_value_errors"] == 10_000 and by_fn["lookup_missing_keys"] == 2_000
    types = view.by_label("exception type", "exception-samples")
    assert types.get("builtins.ValueError") == 10_000, types
    assert types.get("builtins.KeyError") == 2_000, types
    assert types.get("__main__.ParseError") == 500, types
    assert not any("StopIteration" in str(t) for t in types if types[t]), types
    # The leaf frame is the raising function, at the raise / lookup line.
    for s in view.samples:
        if s.values.get("exception-samples") and s.labels.get("exception type") == "builtins.KeyError":
            assert s.stack[0] == "lookup_missing_keys", s.stack
            assert s.lines[0] == line_of(RAISERS, "d[i]"), s.lines
            break
    else:
        raise AssertionError("no KeyError sample")


def test_sampled_exceptions_are_unbiased(tmp_path):
    # Default sampling (1 in 20 on average, weight 20): about 500 + 100
    # samples, so the ratio's relative standard deviation is about 11 %.
    # The issue's +-20 % is checked with exact counting above; here +-40 %
    # (3.6 sigma) and the totals within +-30 %.
    view, _ = profile_run(tmp_path, RAISERS)
    by_fn = _ratio_checks(view, 0.40)
    assert abs(by_fn["raise_value_errors"] - 10_000) <= 3_000, by_fn
    types = view.by_label("exception type", "exception-samples")
    assert set(t for t in types if types[t]) <= {"builtins.ValueError", "builtins.KeyError",
                                                "__main__.ParseError"}, types


def test_exception_profile_switched_off(tmp_path):
    view, _ = profile_run(tmp_path, RAISERS, DD_PROFILING_EXCEPTION_ENABLED="false",
                          STACKSIGHT_EXCEPTION_SAMPLE_INTERVAL="1")
    assert view.total("exception-samples") == 0
    assert "exception-samples" not in view.sample_types


def test_exception_types_behave_after_stop(tmp_path):
    body = """
    class Early(Exception):
        pass
    prof.start()
    class During(KeyError):
        pass
    prof.stop()
    class Late(During):
        pass
    for cls in (ValueError, OSError, FileNotFoundError, Early, During, Late):
        try:
            raise cls("x")
        except cls as e:
            assert type(e) is cls and e.args == ("x",)
    # Subclass with its own __new__ calling the base's.
    class WithNew(ValueError):
        def __new__(cls, *a):
            return super().__new__(cls, *a)
    assert type(WithNew(1)) is WithNew
    assert type(OSError(2, "no such file")) is FileNotFoundError
    assert ValueError.__new__(ValueError).__class__ is ValueError
    print("ok")
    """
    _, out = profile_run(tmp_path, body)
    assert "ok" in out


def test_messages_only_when_asked(tmp_path):
    code = """
def fail():
    for i in range(300):
        try:
            raise ValueError("card 4111 declined")
        except ValueError:
            pass
prof.start()
fail()
prof.stop()
"""
    (tmp_path / "off").mkdir()
    (tmp_path / "on").mkdir()
    quiet, _ = profile_run(tmp_path / "off", code, STACKSIGHT_EXCEPTION_SAMPLE_INTERVAL="1")
    assert quiet.total("exception-samples") == 300
    assert all("exception message" not in s.labels for s in quiet.samples)
    loud, _ = profile_run(tmp_path / "on", code, STACKSIGHT_EXCEPTION_SAMPLE_INTERVAL="1",
                          STACKSIGHT_EXCEPTION_MESSAGES="true")
    messages = {s.labels.get("exception message") for s in loud.samples if s.values.get("exception-samples")}
    assert messages == {"card 4111 declined"}
