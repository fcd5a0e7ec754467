"""
What a run measures: the settings, the rows of the table, and the runs (one
registration of handlers each) that fill them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

#: Scenario groups, as named on the command line.
GROUPS = ("S1", "S2", "S3", "S3b", "S4", "S5", "a", "b", "c", "d")

#: The row suffixes of the three keyed sizes.
SIZES = ("small", "mid", "large")


@dataclass(frozen=True)
class Settings:
    """
    Sizes and sampling of one run of the suite.
    """

    keyed_sizes: tuple[int, int, int] = (10, 1_000, 100_000)
    fan: int = 100
    reactor_handlers: int = 10
    reactor_events: int = 1_000
    spares: int = 1_000
    sample_s: float = 0.04
    samples: int = 5
    groups: tuple[str, ...] = GROUPS

    @property
    def big(self) -> int:
        return self.keyed_sizes[-1]

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Settings:
        fields = dict(data)
        fields["keyed_sizes"] = tuple(fields["keyed_sizes"])  # type: ignore[arg-type]
        fields["groups"] = tuple(fields["groups"])  # type: ignore[arg-type]
        return cls(**fields)  # type: ignore[arg-type]


FULL = Settings()
QUICK = replace(
    FULL, keyed_sizes=(10, 1_000, 10_000), reactor_events=100, spares=200, sample_s=0.005, samples=3
)


def short(n: int) -> str:
    """
    ``100000`` as ``"100k"``.
    """
    return f"{n // 1000:,}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


@dataclass(frozen=True)
class Row:
    """
    One row of the table.

    :ivar derived: computed from other rows by the report, not measured.
    """

    id: str
    group: str
    label: str
    unit: str
    higher_is_better: bool = False
    derived: bool = False


def rows(settings: Settings) -> list[Row]:
    """
    The rows of the table, in order.
    """
    small, mid, big = (short(n) for n in settings.keyed_sizes)
    fan = settings.fan
    found = [
        Row("S1", "S1", "S1 fire to 1 handler", "ns/fire"),
        Row("S2", "S2", f"S2 fire to {fan} handlers, per handler", "ns/handler"),
        Row("S2.extra", "S2", f"S2 per extra handler, (t{fan} - t1)/{fan - 1}", "ns/handler", derived=True),
    ]
    for group, what in (("S3", "one keyword"), ("S3b", "events carry 2 keywords, handlers constrain 1")):
        found += [
            Row(f"{group}.small", group, f"{group} 1 match among {small} ({what})", "ns/fire"),
            Row(f"{group}.mid", group, f"{group} 1 match among {mid}", "ns/fire"),
            Row(f"{group}.large", group, f"{group} 1 match among {big}", "ns/fire"),
            Row(f"{group}.ratio", group, f"{group} ratio {big} / {small}", "x", derived=True),
        ]
    return [
        *found,
        Row("S4", "S4", f"S4 per handler returning a fired Deferred, {fan} handlers", "ns/handler"),
        Row("S5", "S5", f"S5 bytes per registered handler at {big}, one-keyword spec", "B/handler"),
        Row("A", "a", "(a) fire through 3 phases, 1 handler in each", "ns/fire"),
        Row(
            "B",
            "b",
            f"(b) events/s in a running reactor, {settings.reactor_handlers} handlers returning "
            "Deferreds fired by callLater(0) (higher is better)",
            "events/s",
            higher_is_better=True,
        ),
        Row("C.add", "c", f"(c) add one handler at {big} registered", "ns"),
        Row("C.remove", "c", f"(c) remove one handler at {big} registered", "ns"),
        Row("D", "d", f"(d) bytes per handler at {big} on one event, no filter", "B/handler"),
    ]


@dataclass(frozen=True)
class Run:
    """
    One registration of handlers with a contender, and what is measured on it.

    :ivar workload: the `Contender` method that prepares it.
    :ivar timed: the row its fire time goes to, divided by ``per``.
    :ivar memory: the row its bytes per handler go to.
    :ivar add_remove: whether the (c) rows are measured on it.
    :ivar reactor: whether it runs in the reactor (scenario b).
    """

    workload: str
    n: int
    timed: str | None = None
    per: int = 1
    memory: str | None = None
    add_remove: bool = False
    reactor: bool = False

    def row_ids(self) -> tuple[str, ...]:
        ids = [self.timed, self.memory, *(("C.add", "C.remove") if self.add_remove else ())]
        return tuple(row for row in ids if row is not None)


def runs(settings: Settings) -> list[Run]:
    """
    The runs that fill the selected groups' rows; the reactor run comes last,
    since the reactor can run once per process.
    """
    groups = set(settings.groups)
    small, mid, big = settings.keyed_sizes
    found: list[Run] = []
    if "S1" in groups:
        found.append(Run("fanout", 1, timed="S1"))
    if "S2" in groups:
        found.append(Run("fanout", settings.fan, timed="S2", per=settings.fan))
    if "S3" in groups:
        found += [Run("keyed", small, timed="S3.small"), Run("keyed", mid, timed="S3.mid")]
    if groups & {"S3", "S5", "c"}:
        found.append(
            Run(
                "keyed",
                big,
                timed="S3.large" if "S3" in groups else None,
                memory="S5" if "S5" in groups else None,
                add_remove="c" in groups,
            )
        )
    if "S3b" in groups:
        found += [
            Run("keyed_two", n, timed=f"S3b.{size}")
            for n, size in zip(settings.keyed_sizes, SIZES, strict=True)
        ]
    if "S4" in groups:
        found.append(Run("deferred_fanout", settings.fan, timed="S4", per=settings.fan))
    if "a" in groups:
        found.append(Run("phased", 3, timed="A"))
    if "d" in groups:
        found.append(Run("fanout", big, memory="D"))
    if "b" in groups:
        found.append(Run("reactor_fanout", settings.reactor_handlers, timed="B", reactor=True))
    return found
