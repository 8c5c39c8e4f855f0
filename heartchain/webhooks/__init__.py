"""Webhooks: partners' and charities' HTTPS endpoints told of new entries, as an outbox.

Which entries an endpoint is due comes from the log (its filters over `log_entry` after the
endpoint's cursor); what was sent, when and with what answer is off-log operational data in its
own tables (models.py). The delivery worker (delivery.py) runs with the app.
"""
