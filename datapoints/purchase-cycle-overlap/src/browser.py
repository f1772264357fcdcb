"""Client of the remote browser service (vendored; do not modify).

The bot drives one real browser session on the store through a small HTTP
control API (a CDP gateway in production). There is one browser tab: a new
navigation while another is still in flight interrupts it, and the gateway
answers it with HTTP 409 "navigation interrupted". The store's cart lives on
the store's side: it survives browser restarts and bot crashes, and checkout
does not empty it (clear_cart() does).

Every call is one HTTP request on its own connection and may be made from any
thread.
"""
import json
import os
import urllib.error
import urllib.request


class BrowserError(Exception):
    """The browser gateway refused or failed a call."""


class NavigationInterrupted(BrowserError):
    """Another navigation was in flight in the same tab."""


class NavigationAborted(BrowserError):
    """The navigation was aborted by abort()."""


class BrowserSession:
    def __init__(self, base_url, timeout=60.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, path, payload=None):
        body = json.dumps(payload or {}).encode()
        req = urllib.request.Request(
            self.base_url + path, data=body, method="POST",
            headers={"Content-Type": "application/json",
                     "X-Stockbot-Pid": str(os.getpid())})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                err = json.loads(e.read() or b"{}").get("error", "")
            except ValueError:
                err = ""
            if err == "interrupted":
                raise NavigationInterrupted(f"{path}: navigation interrupted "
                                            "(another navigation in flight)") from None
            if err == "aborted":
                raise NavigationAborted(f"{path}: navigation aborted") from None
            raise BrowserError(f"{path}: HTTP {e.code} {err}") from None
        except OSError as e:
            raise BrowserError(f"{path}: {e}") from None

    # --- navigations (one at a time per tab) -------------------------------

    def goto(self, page):
        """Opens a page: "home", "cart" or "product/<tcin>"."""
        return self._call("/goto", {"page": page})

    def add_to_cart(self, tcin):
        """On the product page: adds one of the product to the store's cart."""
        return self._call("/add_to_cart", {"tcin": tcin})

    def checkout(self):
        """Places an order for what is in the cart; returns {"order_id", "items"}.
        Can take long (payment, 3-D Secure); the cart keeps its items."""
        return self._call("/checkout")

    def clear_cart(self):
        """Removes every item from the store's cart."""
        return self._call("/clear_cart")

    def order_history(self):
        """The account's order history page: every order placed on the store,
        oldest first, as [{"order_id", "items": [tcin, ...]}, ...]."""
        return self._call("/orders").get("orders", [])

    # --- control (not a navigation) ----------------------------------------

    def abort(self):
        """Stops the navigation in flight, if any (like pressing Esc). The
        aborted call raises NavigationAborted once the tab has unwound, which
        takes a moment; until then that navigation is still in flight.
        Returns {"aborted": <what was stopped, or null>}."""
        return self._call("/abort")
