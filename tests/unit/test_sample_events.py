"""Every sample payload in events/ is loaded by at least one test, so none can rot unseen."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_sample_event_is_used_by_a_test() -> None:
    samples = sorted(p.name for p in (ROOT / "events").glob("*.json"))
    assert samples
    this = Path(__file__).resolve()
    sources = "\n".join(
        p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.resolve() != this
    )
    unused = [name for name in samples if f'"{name}"' not in sources]
    assert unused == [], f"no test loads {unused}"
