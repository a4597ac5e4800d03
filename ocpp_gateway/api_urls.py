from __future__ import annotations

# Remote-operation endpoints (commands to stations), mounted under /api/v1/.
urlpatterns: list = []
