"""Django signals for account changes, sent after the change committed.

.. code-block:: python

    from django.dispatch import receiver
    from onboardkit_django.signals import account_changed

    @receiver(account_changed)
    def audit(sender, event, **kwargs):
        AuditEntry.objects.create(account=event.account_id, action=event.action)

``sender`` is the :class:`~onboardkit.accounts.AccountEvent` class; ``event`` the event (tenant,
account id, flow, action, old and new status, time, actor), and ``tenant``, ``account_id`` and
``action`` are passed on their own too. A receiver that raises is logged by the hook runner and
the change stays, as with every observer.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["account_changed"]

#: Sent once per account change, after the transaction that made it committed
#: (``transaction.on_commit``): created, confirmed, approved, rejected, password changed, ...
account_changed = Signal()
