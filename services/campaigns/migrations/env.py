from meshkit.migration_env import run
from services.campaigns.models import Base

run(Base.metadata)
