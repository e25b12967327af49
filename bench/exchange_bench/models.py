from django.db import models


class PlainMessage(models.Model):
    """A baseline message: the payload as received, one row."""

    msg_id = models.UUIDField(unique=True)
    body = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.msg_id)
