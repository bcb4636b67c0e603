"""Alembic environment: the URL comes from the Config (set by `riskmap migrate`) or settings."""

from alembic import context
from sqlalchemy import create_engine

from backend.core.config import database_url
from backend.core.db import sqlalchemy_url
from backend.models import Base

config = context.config
url = sqlalchemy_url(config.get_main_option("sqlalchemy.url") or database_url())


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    # PostGIS's own tables and the readings partitions are not ours to diff.
    return not (type_ == "table" and (name == "spatial_ref_sys" or name.startswith("readings_")))


engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
