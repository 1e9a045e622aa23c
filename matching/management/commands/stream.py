"""`manage.py stream --session ID --source SRC --fps N`: feed a live session from a file, folder, webcam or URL."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from matching.models import MatchingSession
from matching.streaming import CameraNotUsable, StreamStats, stream


class Command(BaseCommand):
    help = (
        "Stream a video file, an image folder, a webcam index or an RTSP URL into a live session, through the same "
        "service as the camera API (frames stay in memory), printing sent / accepted / refused / alerts."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--session", type=int, required=True, help="Live session id")
        parser.add_argument("--source", required=True, help="Video file, image folder, webcam index (0) or RTSP URL")
        parser.add_argument("--fps", type=float, default=5.0, help="Frames submitted per second (default 5)")
        parser.add_argument("--every", type=int, default=1, help="Take every Nth frame of the source")
        parser.add_argument("--max-frames", type=int, default=None, help="Stop after this many frames")

    def handle(self, *args, **options) -> None:
        if not MatchingSession.objects.filter(pk=options["session"]).exists():
            raise CommandError(f"No session {options['session']}.")

        def progress(stats: StreamStats) -> None:
            refusal = f" (last refusal: {stats.last_refusal})" if stats.last_refusal else ""
            counts = f"sent {stats.sent}  accepted {stats.accepted}  refused {stats.refused}  alerts {stats.alerts}"
            self.stdout.write(f"\r{counts}{refusal}", ending="")
            self.stdout.flush()

        try:
            stats = stream(
                session_id=options["session"],
                source=options["source"],
                fps=options["fps"],
                every=options["every"],
                max_frames=options["max_frames"],
                progress=progress,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except CameraNotUsable as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write("")
        if stats.stopped and stats.last_refusal in ("camera_inactive", "camera_token_revoked"):
            self.stdout.write(
                self.style.WARNING(f"Streaming stopped: the camera unit may no longer submit ({stats.last_refusal}).")
            )
        elif stats.stopped:
            self.stdout.write(self.style.WARNING(f"The session stopped ({stats.last_refusal})."))
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: sent {stats.sent}, accepted {stats.accepted}, refused {stats.refused}, alerts {stats.alerts}."
            )
        )
