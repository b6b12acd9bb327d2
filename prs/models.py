from datetime import timedelta

from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from config import clock

# The windows of DESIGN §3, measured from the PR's start time T.
JOIN_CLOSES_BEFORE_START = timedelta(hours=1)  # join and confirm close at T-1h
CHECK_IN_OPENS_BEFORE_START = timedelta(minutes=30)
CHECK_IN_CLOSES_AFTER_START = timedelta(hours=1)

MAX_CAPACITY = 100


class User(AbstractUser):
    """A participant or organiser; staff accounts have no WeChat openid.

    The reliability figures are kept here (there is no separate scores table) and
    only `prs.services` writes them, in the transaction of the slot transition
    they count.
    """

    reliability_join_count = models.PositiveIntegerField(_("joins"), default=0)
    reliability_confirm_count = models.PositiveIntegerField(
        _("confirmations"), default=0
    )
    reliability_attend_count = models.PositiveIntegerField(_("attendances"), default=0)
    reliability_release_count = models.PositiveIntegerField(_("releases"), default=0)
    join_to_confirm_ratio = models.FloatField(_("join to confirm"), default=0.0)
    confirm_to_attend_ratio = models.FloatField(_("confirm to attend"), default=0.0)
    release_frequency = models.FloatField(_("release frequency"), default=0.0)

    wechat_reminder_opt_in = models.BooleanField(_("WeChat reminders"), default=False)
    wechat_reminder_opt_in_at = models.DateTimeField(
        _("reminders on since"), null=True, blank=True
    )
    wechat_openid = models.CharField(
        _("WeChat openid"), max_length=64, unique=True, null=True, blank=True
    )

    class Meta:
        db_table = "users"
        verbose_name = _("user")
        verbose_name_plural = _("users")

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class PartnerRequestQuerySet(models.QuerySet):
    def with_counts(self, viewer=None):
        """Annotate the headcount and the viewer's latest slot status, in one query.

        `joined_count` counts active slots, `confirmed_count` the confirmed and
        attended ones, `my_slot_status` is None for an anonymous viewer or one who
        never joined.
        """
        queryset = self.annotate(
            joined_count=models.Count(
                "slots", filter=models.Q(slots__status__in=Slot.ACTIVE)
            ),
            confirmed_count=models.Count(
                "slots", filter=models.Q(slots__status__in=Slot.CONFIRMED_OR_ATTENDED)
            ),
        )
        if viewer is None or not viewer.is_authenticated:
            return queryset.annotate(
                my_slot_status=models.Value(None, models.CharField())
            )

        latest = Slot.objects.filter(pr=models.OuterRef("pk"), user=viewer).order_by(
            "-pk"
        )
        return queryset.annotate(
            my_slot_status=models.Subquery(latest.values("status")[:1])
        )


class PartnerRequestManager(models.Manager.from_queryset(PartnerRequestQuerySet)):
    def counted(self, pr_id: int | str, viewer=None):
        """One PR annotated as `with_counts` annotates it, or None if there is none.

        Every action's answer and every API read asks this, so it is one fixed
        statement: building and compiling the equivalent ORM query cost about
        three times the database's own work for it (cProfile on the poll, which
        asked it before it had its snapshots). tests/prs/test_counted.py holds it
        to `with_counts`'s answers.
        """
        pr_id = int(pr_id)  # the action URLs' regex hands over digits
        if not could_be_an_id(pr_id):
            return None

        viewer_id = (
            viewer.pk if viewer is not None and viewer.is_authenticated else None
        )
        found = list(self.raw(_COUNTED_SQL, {"pr": pr_id, "viewer": viewer_id}))
        return found[0] if found else None


def could_be_an_id(pk: int) -> bool:
    """Whether a row can have this id (from a URL). Ids are BIGINT: the ORM turns
    a larger lookup into "no row", and raw SQL must too."""
    return 0 < pk <= 2**63 - 1


def _status_list(statuses) -> str:
    """An SQL list of slot statuses: constants of this module, never user input."""
    return ", ".join(f"'{status}'" for status in statuses)


class PartnerRequest(models.Model):
    class Status(models.TextChoices):
        OPEN = "OPEN", _("Open")
        CANCELLED = "CANCELLED", _("Cancelled")

    organiser = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        related_name="organised_prs",
        verbose_name=_("organiser"),
    )
    title = models.CharField(_("title"), max_length=60)
    description = models.TextField(_("description"), max_length=2000, blank=True)
    location = models.CharField(_("location"), max_length=100)
    start_at = models.DateTimeField(_("start time"))
    capacity = models.PositiveSmallIntegerField(
        _("capacity"),
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CAPACITY)],
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status, default=Status.OPEN
    )
    # From the one time seam (auto_now_add would read the system clock).
    created_at = models.DateTimeField(
        _("created at"), default=clock.now, editable=False
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    objects = PartnerRequestManager()

    class Meta:
        db_table = "partner_requests"
        verbose_name = _("partner request")
        verbose_name_plural = _("partner requests")
        indexes = [models.Index(fields=["status", "start_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(capacity__gte=1, capacity__lte=MAX_CAPACITY),
                name="pr_capacity_in_range",
            )
        ]

    def __str__(self):
        return f"PR {self.pk}: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def places_left(self) -> int:
        """Free places; only on a PR annotated by `with_counts`."""
        return max(self.capacity - self.joined_count, 0)

    @property
    def join_deadline(self):
        return self.start_at - JOIN_CLOSES_BEFORE_START

    @property
    def check_in_opens_at(self):
        return self.start_at - CHECK_IN_OPENS_BEFORE_START

    @property
    def check_in_closes_at(self):
        return self.start_at + CHECK_IN_CLOSES_AFTER_START


class Slot(models.Model):
    """One user's place in one PR, from join to its end state.

    A user holds at most one active slot per PR; an exited or released slot stays
    as history and a new join makes a new row.
    """

    class Status(models.TextChoices):
        JOINED = "JOINED", _("Joined")
        CONFIRMED = "CONFIRMED", _("Confirmed")
        ATTENDED = "ATTENDED", _("Attended")
        EXITED = "EXITED", _("Exited")
        RELEASED = "RELEASED", _("Released")

    ACTIVE = (Status.JOINED, Status.CONFIRMED, Status.ATTENDED)
    CONFIRMED_OR_ATTENDED = (Status.CONFIRMED, Status.ATTENDED)

    pr = models.ForeignKey(
        PartnerRequest,
        on_delete=models.CASCADE,
        related_name="slots",
        verbose_name=_("partner request"),
    )
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="slots", verbose_name=_("user")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status, default=Status.JOINED
    )
    joined_at = models.DateTimeField(_("joined at"))
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    attended_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    exited_at = models.DateTimeField(_("exited at"), null=True, blank=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)

    class Meta:
        db_table = "slots"
        verbose_name = _("slot")
        verbose_name_plural = _("slots")
        indexes = [
            models.Index(fields=["pr", "status"]),
            models.Index(fields=["user", "pr"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["pr", "user"],
                condition=models.Q(status__in=["JOINED", "CONFIRMED", "ATTENDED"]),
                name="one_active_slot_per_user_and_pr",
            )
        ]

    def __str__(self):
        return f"slot {self.pk} pr={self.pr_id} user={self.user_id} {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


# PartnerRequestManager.counted's statement. The viewer's subquery finds no row for
# an anonymous viewer (NULL matches no user_id), as with_counts answers None.
_COUNTED_SQL = f"""
SELECT partner_requests.*,
    (SELECT COUNT(*) FROM slots
     WHERE slots.pr_id = partner_requests.id
       AND slots.status IN ({_status_list(Slot.ACTIVE)})) AS joined_count,
    (SELECT COUNT(*) FROM slots
     WHERE slots.pr_id = partner_requests.id
       AND slots.status IN ({_status_list(Slot.CONFIRMED_OR_ATTENDED)})
    ) AS confirmed_count,
    (SELECT slots.status FROM slots
     WHERE slots.pr_id = partner_requests.id AND slots.user_id = %(viewer)s
     ORDER BY slots.id DESC LIMIT 1) AS my_slot_status
FROM partner_requests
WHERE partner_requests.id = %(pr)s
"""  # noqa: S608
