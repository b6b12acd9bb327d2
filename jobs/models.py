from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Job(models.Model):
    """One execution of a Django task, durable in the database.

    The lifecycle: PENDING until claimed, then RUNNING under a lease, then
    SUCCEEDED, FAILED, or RETRY (PENDING again in all but name, with a later
    `run_at`). Only `jobs.runner` changes a job's state.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING"
        RUNNING = "RUNNING"
        RETRY = "RETRY"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"

    WAITING = (Status.PENDING, Status.RETRY)
    UNFINISHED = (Status.PENDING, Status.RETRY, Status.RUNNING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED)

    job_type = models.CharField(
        _("job type"), max_length=200, help_text=_("The task's module path.")
    )
    payload = models.JSONField(
        _("payload"), default=dict, help_text='{"args": [...], "kwargs": {}}'
    )
    run_at = models.DateTimeField(_("due at"), help_text=_("When the job falls due."))
    not_before = models.DateTimeField(
        _("not before"),
        null=True,
        blank=True,
        help_text=_(
            "Set on a retry or when a handler asked to run later: the job never "
            "starts before it, scheduling tolerance notwithstanding."
        ),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveIntegerField(_("max attempts"))
    # NULL means "no key": NULLs never conflict in the unique index below.
    dedupe_key = models.CharField(  # noqa: DJ001
        _("dedupe key"), max_length=200, null=True, blank=True
    )
    locked_by = models.CharField(_("worker"), max_length=200, blank=True)
    lease_token = models.CharField(_("lease token"), max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(
        _("lease expires at"), null=True, blank=True
    )
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        db_table = "jobs"
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        constraints = [
            # Dedupe: one unfinished job per (type, key). A finished job frees the
            # key, so the same reminder can be scheduled again after it ran.
            models.UniqueConstraint(
                fields=["job_type", "dedupe_key"],
                condition=Q(
                    status__in=["PENDING", "RETRY", "RUNNING"], dedupe_key__isnull=False
                ),
                name="jobs_one_unfinished_per_dedupe_key",
            ),
        ]
        indexes = [
            # "What is due" is a range scan over waiting jobs only, however many
            # finished rows the table keeps.
            models.Index(
                fields=["run_at", "id"],
                condition=Q(status__in=["PENDING", "RETRY"]),
                name="jobs_waiting_by_run_at",
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="RUNNING"),
                name="jobs_running_by_lease",
            ),
            # Pruning and the operators' listings.
            models.Index(fields=["status", "finished_at"], name="jobs_by_status"),
            models.Index(fields=["job_type", "status"], name="jobs_by_type"),
        ]

    def __str__(self):
        return f"job {self.pk} {self.job_type} {self.status}"

    @property
    def args(self) -> list:
        return self.payload.get("args", [])

    @property
    def kwargs(self) -> dict:
        return self.payload.get("kwargs", {})
