from meshkit.migration_env import run
from services.contacts.models import Base

run(Base.metadata)
