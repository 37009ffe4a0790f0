"""Mail: an outbox table per sending service, a sender loop, templates.

A service queues a mail (`outbox.enqueue`) on the connection of the
transaction that causes it, so the mail exists exactly when the action does;
its sender (`sender.MailSender`) delivers queued rows over SMTP, at least once,
with backoff, and never makes a request wait for the mail server.
"""
