"""
The tutorial scenario end to end, in a running reactor.

A dispatcher tells interested parts of a program that users were created.
Run it with the virtual environment's Python, where the package is
installed: ``.venv/bin/python docs/examples/new_users.py``.  It prints what
happened.
"""

from __future__ import annotations

from collections import namedtuple

try:
    from twisted.internet import defer, task
    from twisted.internet.interfaces import IReactorTime

    from twisted_event_dispatcher import EventDispatcher, FireResult
except ImportError as missing:
    raise SystemExit(
        f"{missing}: run this example with the Python that has twisted_event_dispatcher "
        "installed, e.g. .venv/bin/python docs/examples/new_users.py"
    ) from None

UserEvent = namedtuple("UserEvent", ("event_type", "user", "role", "other_data"))


def report(result: FireResult) -> None:
    """
    Print which handlers ran for an event, and what they returned.
    """
    print(f"fired {result.event.user!r} ({result.event.role}):")
    for outcome in result:
        status = "ok" if outcome.succeeded else f"failed: {outcome.failure}"
        print(f"  {outcome.phase:<6} {outcome.handler_id.label:<18} -> {outcome.value!r} {status}")
    if not len(result):
        print("  no handler matched")


async def main(reactor: IReactorTime) -> None:
    """
    Add handlers, fire user events, remove a handler, fire again.
    """
    dispatcher = EventDispatcher(allowed_match_spec_keywords=("event_type", "user", "role"))
    sent = []

    def audit(user_event: UserEvent) -> str:
        return f"audited {user_event.user}"

    async def notify_admin(user_event: UserEvent) -> str:
        # Pretend to send an e-mail, which takes a moment.
        await task.deferLater(reactor, 0.01, lambda: None)
        sent.append(user_event.user)
        return f"mailed admin about {user_event.user}"

    def welcome(user_event: UserEvent) -> str:
        return f"welcomed {user_event.user}"

    await dispatcher.add_event_handler(audit, "before")
    admin_id = await dispatcher.add_event_handler(notify_admin, "during", role="admin")
    await dispatcher.add_event_handler(welcome, "after", event_type="user_created")
    dispatcher.start()

    for user_event in [
        UserEvent("user_created", "bob", "user", "1234"),
        UserEvent("user_created", "susan", "admin", "4567"),
    ]:
        details = {"event_type": user_event.event_type, "user": user_event.user, "role": user_event.role}
        report(await dispatcher.fire_event(user_event, **details))

    await dispatcher.remove_event_handler(admin_id)
    print("removed notify_admin")
    report(await dispatcher.fire_event(UserEvent("user_created", "eve", "admin", "89"), role="admin"))
    await dispatcher.stop()
    print(f"e-mails sent about: {sent}")


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
