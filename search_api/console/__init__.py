"""The web console: pages for shoppers, warehouse staff and the back-office, served by the search API.

Pages are Jinja2 templates (one a page, a shared layout) with small ES modules beside them in `static/`. The
browser reads through the search API's JSON routes and sends commands straight to the write API with the user's
key (CORS on the write API), so the console itself holds no data and no key.
"""

from search_api.console.pages import mount_console

__all__ = ["mount_console"]
