"""``python -m persistiq_dagster.cli.connection_check``: check the key and every endpoint.

Settings come from the environment, as the Definitions read them. It prints one line per
endpoint (``ok``, or ``FAILED`` with PersistIQ's own reason, the key redacted) and a summary;
it exits 1 when any endpoint did not answer with a page, 2 when a setting is wrong.
"""

import os
import sys

from persistiq_dagster.config import API_KEY_ENV, PersistIQConfigError, Settings
from persistiq_dagster.defs.connection_check import check_connection, summary
from persistiq_dagster.defs.resources.persistiq import PersistIQResource


def main() -> int:
    try:
        settings = Settings.from_env()
        resource = PersistIQResource.from_settings(settings).model_copy(
            update={"api_key": os.getenv(API_KEY_ENV) or None}
        )
        answers = check_connection(resource, settings.enabled_tables)
    except PersistIQConfigError as error:
        print(error, file=sys.stderr)
        return 2
    for answer in answers:
        print(answer.line())
    print(summary(answers, resource.base_url))
    return 0 if all(answer.ok for answer in answers) else 1


if __name__ == "__main__":
    sys.exit(main())
