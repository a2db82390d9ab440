"""Admin for notifications: channels (URL masked, a test message), deliveries (dead letters and a
retry action) and the events themselves (read-only, with their deliveries).

A channel's URL is a secret: the form takes a new one but never shows the stored one, and list
pages show only ``mask_url``. Actions call ``notifications.channels`` / ``notifications.delivery``.
"""

from __future__ import annotations

import json
from collections import Counter

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.utils.html import format_html

from budget.admin import ReadOnlyAdmin, ReadOnlyInline
from notifications import channels, delivery
from notifications.models import Channel, Delivery, Event

BADGE_COLOURS = {"pending": "#5b7fa6", "sending": "#c0701b", "sent": "#3d8f5a", "dead": "#ba2121"}


def badge(text: str, colour: str) -> str:
    return format_html(
        '<span style="display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;'
        'font-size:0.8em;font-weight:600;background:{}">{}</span>',
        colour,
        text,
    )


# --- Channels ----------------------------------------------------------------------------------


class ChannelForm(forms.ModelForm):
    url = forms.CharField(
        label="Webhook URL",
        required=False,
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"size": 80, "autocomplete": "off"}),
        help_text="A secret: stored, never shown again. Leave empty to keep the current URL.",
    )
    events = forms.MultipleChoiceField(
        choices=Event.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None chosen: every event.",
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "url", "enabled", "events"]

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url", "").strip()
        if url:
            return url
        if self.instance.pk:
            return self.instance.url  # left empty: keep the stored one
        raise forms.ValidationError("Enter the webhook URL.")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") and cleaned.get("url"):
            try:
                channels.validate_url(cleaned["kind"], cleaned["url"])
            except forms.ValidationError as exc:
                self.add_error("url", exc)
        return cleaned


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "masked_url", "state", "wanted_events", "waiting", "dead"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["masked_url", "disabled_reason", "paused_until", "created_at", "updated_at"]
    actions = ["send_test_message"]

    def get_queryset(self, request):
        # The list's two counts in its one query, not two more per channel.
        return (
            super()
            .get_queryset(request)
            .annotate(
                waiting_count=Count("deliveries", filter=Q(deliveries__status__in=Delivery.ACTIVE)),
                dead_count=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.DEAD)),
            )
        )

    def get_fields(self, request, obj=None):
        if obj and obj.name == channels.ENV_CHANNEL_NAME:
            # Name, kind and URL come from DISCORD_WEBHOOK_URL: renaming it would make a second one.
            return ["name", "kind", "masked_url", "enabled", "events", *self.readonly_fields[1:]]
        fields = ["name", "kind", "url", "enabled", "events"]
        return fields + (self.readonly_fields if obj else [])

    def get_readonly_fields(self, request, obj=None):
        if obj and obj.name == channels.ENV_CHANNEL_NAME:
            return ["name", "kind", *self.readonly_fields]
        return self.readonly_fields

    @admin.display(description="URL")
    def masked_url(self, channel: Channel) -> str:
        return channel.masked_url

    @admin.display(description="state", ordering="enabled")
    def state(self, channel: Channel) -> str:
        if channel.enabled:
            return badge("on", "#3d8f5a")
        title = channel.disabled_reason or "turned off by hand"
        return format_html('<span title="{}">{}</span>', title, badge("off", "#ba2121"))

    @admin.display(description="events")
    def wanted_events(self, channel: Channel) -> str:
        return ", ".join(Event.Kind(k).label for k in channel.events if k in Event.Kind.values) or "all"

    @admin.display(description="waiting")
    def waiting(self, channel: Channel) -> int:
        return channel.waiting_count

    @admin.display(description="dead")
    def dead(self, channel: Channel) -> int:
        return channel.dead_count

    def save_model(self, request, obj: Channel, form, change) -> None:
        if change and "enabled" in form.changed_data and obj.enabled:
            obj.disabled_reason = ""  # turned back on by a person: the old reason no longer applies
        super().save_model(request, obj, form, change)

    @admin.action(description="Send a test message")
    def send_test_message(self, request, queryset: QuerySet[Channel]) -> None:
        for channel in queryset:
            try:
                messages.success(request, channels.send_test(channel))
            except ValueError as exc:
                messages.error(request, str(exc))


# --- Deliveries --------------------------------------------------------------------------------


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "event_link",
        "channel",
        "status_badge",
        "attempts_label",
        "next_attempt_at",
        "response_status",
        "short_error",
        "sent_at",
    ]
    list_display_links = ["pk"]
    list_filter = ["status", "channel", "event__kind"]
    search_fields = ["event__key", "last_error"]
    list_select_related = ["event", "channel"]
    actions = ["retry"]
    readonly_fields = [
        "event",
        "channel",
        "status",
        "attempts",
        "next_attempt_at",
        "response_status",
        "last_error",
        "sent_at",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="event", ordering="event_id")
    def event_link(self, d: Delivery) -> str:
        return f"{d.event.get_kind_display()} #{d.event_id}"

    @admin.display(description="status", ordering="status")
    def status_badge(self, d: Delivery) -> str:
        return badge(d.status, BADGE_COLOURS.get(d.status, "#8a8a8a"))

    @admin.display(description="attempts")
    def attempts_label(self, d: Delivery) -> str:
        return f"{d.attempts} / {settings.NOTIFY_MAX_ATTEMPTS}"

    @admin.display(description="last error")
    def short_error(self, d: Delivery) -> str:
        return d.last_error[:120] + ("…" if len(d.last_error) > 120 else "")

    @admin.action(description="Retry (dead or waiting ones: due now, with fresh attempts)")
    def retry(self, request, queryset: QuerySet[Delivery]) -> None:
        chosen = queryset.count()
        count = delivery.retry(queryset)
        skipped = chosen - count
        line = f"{count} deliver{'y' if count == 1 else 'ies'} will be sent again shortly."
        if skipped:
            line += f" {skipped} already sent or being sent: left alone."
        messages.success(request, line)
        off = queryset.filter(channel__enabled=False).values_list("channel__name", flat=True).distinct()
        for name in off:
            messages.warning(
                request, f"Channel {name} is turned off: its deliveries wait until it is on again."
            )


# --- Events ------------------------------------------------------------------------------------


class DeliveryInline(ReadOnlyInline):
    model = Delivery
    fields = ["channel", "status", "attempts", "response_status", "last_error", "sent_at", "next_attempt_at"]
    readonly_fields = fields


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "key", "delivery_states"]
    list_filter = ["kind"]
    search_fields = ["key"]
    readonly_fields = ["kind", "key", "created_at", "pretty_payload"]
    fields = readonly_fields
    inlines = [DeliveryInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("deliveries")

    @admin.display(description="payload")
    def pretty_payload(self, event: Event) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.payload, indent=2, ensure_ascii=False))

    @admin.display(description="deliveries")
    def delivery_states(self, event: Event) -> str:
        states = Counter(d.status for d in event.deliveries.all())
        return ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "—"
