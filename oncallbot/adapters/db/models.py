"""Tables. Every instant is a UTCDateTime; every constraint is named so SQLite batch migrations work."""

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Index, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CalendarEventRow(Base):
    """The mirror of the rotation calendar, one row per expanded occurrence."""

    __tablename__ = "calendar_events"
    event_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    summary: Mapped[str] = mapped_column(Text)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    attendee_emails: Mapped[list] = mapped_column(JSON, default=list)


class ShiftRow(Base):
    """The rotation as the bot applies it: one person per on-call week, derived from the calendar at sync."""

    __tablename__ = "shifts"
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, unique=True)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[str] = mapped_column(String(512))


class SyncStateRow(Base):
    __tablename__ = "sync_state"
    source: Mapped[str] = mapped_column(String(512), primary_key=True)
    sync_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobRunRow(Base):
    """One row per (job, occasion): the replica that inserts it runs the job, the others do nothing."""

    __tablename__ = "job_runs"
    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    occasion: Mapped[str] = mapped_column(String(64), primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_shifts_person_start", ShiftRow.person_id, ShiftRow.start_at)
