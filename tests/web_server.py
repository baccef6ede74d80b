"""A real HTTP server on 127.0.0.1 for the web-crawler tests.

``with serve() as site:`` starts it on a free port in a daemon thread and stops it on exit. It serves
the 30 fixture pages in ``data/web`` plus routes that misbehave on purpose (errors, redirect loops,
hangs, huge bodies, connection resets, bodies dripped a byte at a time) and records every request in
``site.log``. A test can add or replace any route with ``site.files[path] = (body, content_type)``,
for bodies that need the server's URL (sitemaps, robots.txt) or are built by the test (a gzip bomb).
"""

from __future__ import annotations

import gzip
import html
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

PAGES_DIR = Path(__file__).resolve().parent / "data" / "web" / "pages"

# /huge and /huge-chunked: 50 MiB of `<p>aaa…</p>\n` lines of 1,024 bytes, sent as 800 chunks of 64 KiB.
# Only the one 64 KiB chunk is ever in memory.
HUGE_BYTES = 50 * 1024 * 1024
_HUGE_LINE = b"<p>" + b"a" * (1024 - len(b"<p></p>\n")) + b"</p>\n"
_HUGE_CHUNK = _HUGE_LINE * 64
assert len(_HUGE_CHUNK) == 64 * 1024 and HUGE_BYTES % len(_HUGE_CHUNK) == 0

_DRIP_INTERVAL = 0.1
# /drip-bytes and /drip-chunk: one byte every half second of a 240-byte body, two minutes in all;
# a client that reads until it has 64 KiB (or the whole body) before looking at the clock waits for all of it.
_BYTE_DRIP_INTERVAL = 0.5
_BYTE_DRIP_BODY = (b"<!DOCTYPE html>\n<html><head><title>Byte drip</title></head><body>\n<p>"
                   + b"slow " * 30 + b"</p>\n</body></html>\n")
_BYTE_DRIP_BODY += b" " * (240 - len(_BYTE_DRIP_BODY))
assert len(_BYTE_DRIP_BODY) == 240
_STOP_POLL = 0.05  # how often serve_forever checks for shutdown (the default 0.5 s slows every test)


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it."""

    start: float  # time.monotonic() when the request line was read
    method: str
    path: str  # path + query as requested
    user_agent: str | None


class Server:
    """What ``serve()`` yields: the base URL, the request log and the fixture page ids."""

    def __init__(self, url: str, page_ids: list[str], pages_dir: Path = PAGES_DIR) -> None:
        self.url = url
        self.log: list[Hit] = []
        self.page_ids = page_ids
        self.pages_dir = pages_dir
        # path -> (body, content type): served as is (with a Content-Length), before any other route.
        self.files: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def hits(self, path: str) -> int:
        """Number of requests whose path (with query) is exactly ``path``."""
        with self._lock:
            return sum(hit.path == path for hit in self.log)

    def paths(self) -> list[str]:
        """The requested paths, in arrival order."""
        with self._lock:
            return [hit.path for hit in self.log]

    def page_url(self, page_id: str) -> str:
        """The URL of one fixture page."""
        return f"{self.url}/pages/{page_id}.html"

    def _record(self, hit: Hit) -> None:
        with self._lock:
            self.log.append(hit)


@dataclass(frozen=True)
class _Config:
    robots: str
    hang_seconds: float
    retry_after: str
    latency: float = 0.0


# ---------------------------------------------------------------------------------------------------
# Page content. Prose is long and distinct per page so a main-text extractor keeps it and a
# near-duplicate filter does not merge two pages.

_ARTICLES: dict[str, tuple[str, list[str]]] = {
    "/crawl/a": (
        "Keeping a Kitchen Garden Through the Winter",
        [
            "Most people put their vegetable beds to sleep in October, pulling out the last tired tomato "
            "plants and leaving the soil bare until spring. That habit wastes a surprising amount of growing "
            "time. Hardy greens such as kale, chard and winter lettuce keep producing well into December when "
            "they are given a little shelter from the wind and the worst of the frost.",
            "A simple cold frame made from old window panes and scrap timber is enough to raise the "
            "temperature inside by several degrees on a sunny afternoon. Open the lid on mild days so the "
            "plants do not sweat, and close it again before dusk. Water sparingly, because damp leaves in cold "
            "weather invite mould.",
            "By the time the first seed catalogues arrive in January, a well-kept winter bed will already have "
            "fed a household for weeks, and the soil will be in better shape than if it had been left empty.",
        ],
    ),
    "/crawl/b": (
        "Sharpening Hand Tools Without a Workshop",
        [
            "A blunt chisel is more dangerous than a sharp one, because it needs extra force and tends to slip "
            "at the worst possible moment. The good news is that restoring an edge requires very little "
            "equipment. A pair of combination whetstones, a flat surface and a jar of water will handle nearly "
            "every blade found in a household toolbox.",
            "Start on the coarse side of the stone and hold the bevel at a steady angle, pushing the tool "
            "forward in long even strokes. Count the strokes so that both sides receive the same attention. "
            "When a fine burr can be felt along the back of the edge, switch to the finer grit and repeat the "
            "process with lighter pressure.",
            "Finish by stropping the blade on a strip of leather. The edge should shave a thin curl from the "
            "end grain of a pine offcut without tearing the fibres.",
        ],
    ),
    "/crawl/c": (
        "The Slow Return of the Village Bakery",
        [
            "For two decades the only bread available in many small villages came sealed in plastic from a "
            "supermarket delivery van. Over the last few years that has begun to change, as a new generation "
            "of bakers has taken over empty shopfronts and revived ovens that had been cold since the "
            "nineteen-nineties.",
            "Their business model is modest. Most bake only a few dozen loaves each morning, sell out before "
            "lunch and close for the rest of the day. Several rely on pre-orders taken through a noticeboard "
            "in the pub or a message group run by neighbours, which means almost nothing goes to waste.",
            "Local councils have noticed the effect on the high street. A bakery with a queue outside at eight "
            "in the morning brings customers to the butcher, the newsagent and the post office next door.",
        ],
    ),
    "/crawl/d": (
        "Walking the Old Canal Towpath",
        [
            "The towpath that follows the disused canal east of the town was built so that horses could haul "
            "coal barges toward the river port. Today it is a quiet gravel track of about eleven miles, flat "
            "enough for pushchairs and shaded for most of its length by alder and willow trees.",
            "The most interesting stretch lies between the third and fifth locks, where the original stone "
            "cottages of the lock keepers still stand. One has been turned into a small museum that opens on "
            "summer weekends and displays tools, ledgers and photographs from the years when the waterway was "
            "busy with traffic.",
            "Walkers should carry water, since there are no shops between the two villages at either end, and "
            "should expect mud after rain.",
        ],
    ),
    "/crawl/e": (
        "Truing a Bicycle Wheel at Home",
        [
            "A wheel that wobbles from side to side as it spins is said to be out of true. The problem usually "
            "develops slowly after a pothole or a hard kerb, and it can be corrected at home with a spoke key "
            "and some patience rather than a trip to the repair shop.",
            "Turn the bicycle upside down and fix a cable tie to the frame so that its tail almost touches the "
            "rim. Spin the wheel slowly and note where the rim brushes the tie. Loosen the spokes on that side "
            "by a quarter turn and tighten the ones opposite by the same amount, then spin again.",
            "Work in small steps. Large adjustments tend to create new bends elsewhere, and overtightened "
            "spokes can crack the rim.",
        ],
    ),
    "/crawl/skip-me": (
        "Notes on Drying Herbs for the Larder",
        [
            "Herbs picked in the middle of summer carry the strongest flavour, and drying them is the easiest "
            "way to keep that flavour for the colder months. Gather the stems in the late morning, after the "
            "dew has evaporated but before the afternoon heat draws out the essential oils.",
            "Tie small bunches with string and hang them upside down in a warm, dark and airy room. An attic "
            "or a spare cupboard with the door left ajar works well. Thyme, oregano and rosemary dry in about "
            "a week, while leafier herbs such as basil and mint take longer and bruise easily.",
            "Once the leaves crumble between the fingers, strip them from the stems and store them in airtight "
            "jars away from direct sunlight.",
        ],
    ),
    "/private/secret": (
        "Internal Planning Notes for the Spring Season",
        [
            "These notes are meant for staff only and summarise the decisions taken at the planning meeting "
            "held at the end of last month. The main item on the agenda was the timetable for reopening the "
            "visitor centre after the winter closure and the number of volunteers needed each weekend.",
            "It was agreed that the centre will reopen on the first Saturday of April, one week later than "
            "last year, so that the repairs to the roof can be finished first. The tea room will keep reduced "
            "hours until the school holidays begin, and the guided walks will resume in May.",
            "Volunteer coordinators should send their availability lists to the office before the fifteenth "
            "so that the rota can be published in good time.",
        ],
    ),
    "/flaky": (
        "How Lighthouse Keepers Logged the Weather",
        [
            "Long before automatic weather stations, the keepers of coastal lighthouses were among the most "
            "reliable sources of marine weather data. Several times a day they recorded wind direction, wind "
            "strength, visibility and the state of the sea in bound ledgers that were posted to the "
            "meteorological office at the end of each month.",
            "Those ledgers now form an unusually long and consistent record of coastal conditions. Researchers "
            "have begun transcribing them to study how storm frequency has changed over the past century and a "
            "half, and volunteers have helped by typing up thousands of handwritten pages.",
            "The handwriting varies from keeper to keeper, but the discipline of the entries rarely does.",
        ],
    ),
    "/busy": (
        "A Short History of the Public Library Card",
        [
            "The first lending libraries open to everyone did not issue cards at all. Borrowers signed a large "
            "register at the desk, and a clerk wrote the title of each book beside their name. The system "
            "worked while collections were small, but it became unmanageable once towns began to build "
            "libraries with tens of thousands of volumes.",
            "Printed cards with a borrower number solved the problem by letting staff file loans in drawers "
            "sorted by date. Later came cards with metal plates, then barcodes and finally the plastic card "
            "with a magnetic strip that many readers still carry today.",
            "Each change made borrowing faster, and each one was resisted at first by librarians who worried "
            "that speed would come at the cost of care.",
        ],
    ),
}

# The crawl link graph: a cycle (a -> c -> a), a robots-disallowed link, an external link, a link
# that differs from a seen URL only by query and fragment, and a chain three deep (a -> b -> d -> e).
_LINKS: dict[str, list[str]] = {
    "/crawl/a": ["/crawl/b", "/crawl/c", "/private/secret", "http://other.invalid/x"],
    "/crawl/b": ["/crawl/d", "/crawl/a?utm=1#frag"],
    "/crawl/c": ["/crawl/a", "/crawl/skip-me"],
    "/crawl/d": ["/crawl/e"],
}

_CP1252_TITLE = "A Morning at the Corner Café"
_CP1252_PARAGRAPHS = [
    "Every weekday the little café on Mill Street opens at seven, and by half past the window seats are "
    "taken. The owner, a former schoolteacher, still writes the menu by hand each morning. A pot of tea "
    "and a warm croissant cost €5, which the regulars insist is the best bargain in town.",
    "Newcomers sometimes ask for her secret, and she calls the idea of a hidden recipe a naïve one. When "
    "asked how she shapes the loaves, she simply folds the dough twice and says, “like this”, as if that "
    "explained everything. She’d rather people came back tomorrow than asked questions today.",
]


def _article_html(
    title: str, paragraphs: list[str], links: Sequence[str] = (), *, meta_charset: bool = True
) -> str:
    head = '<meta charset="utf-8">' if meta_charset else ""
    body = "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)
    nav = ""
    if links:
        items = "\n".join(f'<li><a href="{html.escape(href)}">{html.escape(href)}</a></li>' for href in links)
        nav = f"<nav>\n<ul>\n{items}\n</ul>\n</nav>\n"
    t = html.escape(title, quote=False)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>{head}<title>{t}</title></head>\n<body>\n'
        f"<article>\n<h1>{t}</h1>\n{body}\n</article>\n{nav}</body>\n</html>\n"
    )


_ARTICLE_PAGES: dict[str, bytes] = {
    path: _article_html(title, paragraphs, _LINKS.get(path, [])).encode("utf-8")
    for path, (title, paragraphs) in _ARTICLES.items()
}
# No <meta charset> and no charset in Content-Type: the client has to detect windows-1252 itself.
# €, curly quotes and ’ are bytes 0x80-0x9f here, which are invalid UTF-8 and C1 controls in Latin-1.
_CP1252_PAGE = _article_html(_CP1252_TITLE, _CP1252_PARAGRAPHS, meta_charset=False).encode("cp1252")

_PLAIN_TEXT = (
    "This is a plain text file, not an HTML page.\n"
    "A crawler that only keeps HTML should skip it; one that keeps text may store it as is.\n"
).encode("utf-8")


def _tiny_pdf() -> bytes:
    """A small but well-formed one-page PDF (offsets in the xref table are computed, not guessed)."""
    content = b"BT /F1 12 Tf 20 50 Td (A test PDF) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


_PDF = _tiny_pdf()


def _simple_html(title: str, text: str) -> bytes:
    t = html.escape(title, quote=False)
    return (
        f"<!DOCTYPE html>\n<html><head><title>{t}</title></head>"
        f"<body><h1>{t}</h1><p>{text}</p></body></html>\n"
    ).encode()


# ---------------------------------------------------------------------------------------------------
# The server.


class _HTTPServer(ThreadingHTTPServer):
    # Handler threads are daemons and are not joined on close, so a handler that is still sleeping
    # or streaming never holds up shutdown.
    daemon_threads = True
    block_on_close = False

    def __init__(self, site: Server | None, config: _Config) -> None:
        self.site = site
        self.config = config
        self.stopping = threading.Event()  # wakes /never and /drip handlers when the test ends
        self._counts: dict[str, int] = {}
        self._count_lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can be slow and
        # leave the machine; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def count(self, route: str) -> int:
        """How many times ``route`` was requested, this request included."""
        with self._count_lock:
            self._counts[route] = self._counts.get(route, 0) + 1
            return self._counts[route]

    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down open client connections so idle keep-alive handler threads end too."""
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its handler

    def handle_error(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        # A client that hangs up (timeouts, closed streams, /reset itself) is normal in these tests;
        # anything else is a bug in this helper and keeps its traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked, so every response sends its length
    # Headers and body go out in separate writes: with Nagle's algorithm on, each keep-alive
    # response then stalls ~40 ms on the client's delayed ACK, which would swamp any benchmark.
    disable_nagle_algorithm = True
    server: _HTTPServer
    _send_body = True  # False for HEAD: headers only

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest output clean; the request log is Server.log

    def parse_request(self) -> bool:
        # Called right after the request line is read; headers are parsed inside.
        start = time.monotonic()
        if not super().parse_request():
            return False
        assert self.server.site is not None
        self.server.site._record(Hit(start, self.command, self.path, self.headers.get("User-Agent")))
        return True

    def do_HEAD(self) -> None:
        self._route(send_body=False)

    def do_GET(self) -> None:
        self._route(send_body=True)

    # -- helpers -------------------------------------------------------------------------------------

    def _respond(
        self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self._send_body:
            self._write(body)

    def _write(self, data: bytes) -> bool:
        """Write to the client; False (and close the connection) if it has gone away."""
        try:
            self.wfile.write(data)
            return True
        except OSError:
            self.close_connection = True
            return False

    def _write_chunk(self, data: bytes) -> bool:
        return self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _not_found(self) -> None:
        body = _simple_html("404 Not Found", f"Nothing here at {html.escape(self.path)}.")
        self._respond(404, body, "text/html; charset=utf-8")

    def _redirect(self, status: int, location: str) -> None:
        self._respond(status, b"", None, {"Location": location})

    # -- routes --------------------------------------------------------------------------------------

    def _route(self, send_body: bool) -> None:
        self._send_body = send_body
        path = urlsplit(self.path).path  # routes ignore the query: /crawl/a?utm=1 is /crawl/a
        site = self.server.site
        config = self.server.config
        assert site is not None

        if path in site.files:
            body, content_type = site.files[path]
            self._respond(200, body, content_type)
        elif path == "/robots.txt":
            self._respond(200, config.robots.encode("utf-8"), "text/plain")
        elif path == "/sitemap.xml":
            self._respond(200, self._sitemap_index(site), "application/xml")
        elif path in ("/sitemap-1.xml", "/sitemap-2.xml"):
            self._respond(200, self._sitemap(site, int(path[len("/sitemap-")])), "application/xml")
        elif path.startswith("/pages/") and path.endswith(".html"):
            page_id = path[len("/pages/") : -len(".html")]
            if page_id in site.page_ids:
                if config.latency:
                    self.server.stopping.wait(config.latency)
                body = gzip.decompress((site.pages_dir / f"{page_id}.html.gz").read_bytes())
                self._respond(200, body, "text/html")  # no charset: the client must find the encoding
            else:
                self._not_found()
        elif path == "/":
            self._respond(200, self._index(site), "text/html; charset=utf-8")
        elif path == "/flaky":
            if self.server.count("/flaky") <= 2:
                body = _simple_html("503 Service Unavailable", "Try again later.")
                self._respond(503, body, "text/html; charset=utf-8")
            else:
                self._respond(200, _ARTICLE_PAGES[path], "text/html; charset=utf-8")
        elif path == "/busy":
            if self.server.count("/busy") == 1:
                body = _simple_html("429 Too Many Requests", "Slow down.")
                self._respond(429, body, "text/html; charset=utf-8", {"Retry-After": config.retry_after})
            else:
                self._respond(200, _ARTICLE_PAGES[path], "text/html; charset=utf-8")
        elif path in _ARTICLE_PAGES:  # /crawl/* and /private/secret
            self._respond(200, _ARTICLE_PAGES[path], "text/html; charset=utf-8")
        elif path == "/never":
            self._never(config.hang_seconds)
        elif path == "/loop-a":
            self._redirect(302, "/loop-b")
        elif path == "/loop-b":
            self._redirect(302, "/loop-a")
        elif path == "/redirect":
            self._redirect(301, f"/pages/{site.page_ids[0]}.html")
        elif path == "/huge":
            self._huge(chunked=False)
        elif path == "/huge-chunked":
            self._huge(chunked=True)
        elif path == "/doc.pdf":
            self._respond(200, _PDF, "application/pdf")
        elif path == "/plain.txt":
            self._respond(200, _PLAIN_TEXT, "text/plain; charset=utf-8")
        elif path == "/cp1252":
            self._respond(200, _CP1252_PAGE, "text/html")
        elif path == "/reset":
            self._reset()
        elif path == "/drip":
            self._drip(config.hang_seconds)
        elif path == "/drip-bytes":
            self._drip_bytes(chunked=False)
        elif path == "/drip-chunk":
            self._drip_bytes(chunked=True)
        else:  # includes /missing
            self._not_found()

    def _index(self, site: Server) -> bytes:
        items = "\n".join(f'<li><a href="pages/{i}.html">{i}</a></li>' for i in site.page_ids)
        return (
            "<!DOCTYPE html>\n<html><head><title>Fixture pages</title></head><body>\n"
            f"<h1>Fixture pages</h1>\n<ul>\n{items}\n</ul>\n</body></html>\n"
        ).encode()

    def _sitemap_index(self, site: Server) -> bytes:
        entries = "".join(f"<sitemap><loc>{site.url}/sitemap-{n}.xml</loc></sitemap>\n" for n in (1, 2))
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</sitemapindex>\n'
        ).encode()

    def _sitemap(self, site: Server, number: int) -> bytes:
        half = (len(site.page_ids) + 1) // 2
        numbered = list(enumerate(site.page_ids, start=1))  # the day of lastmod follows page_ids order
        part = numbered[:half] if number == 1 else numbered[half:]
        entries = "".join(
            f"<url><loc>{site.page_url(page_id)}</loc><lastmod>2024-01-{day:02d}</lastmod></url>\n"
            for day, page_id in part
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</urlset>\n'
        ).encode()

    def _never(self, seconds: float) -> None:
        # Event.wait rather than time.sleep, so leaving serve() wakes the handler at once.
        if self.server.stopping.wait(seconds):
            self.close_connection = True
            return
        self._respond(200, _simple_html("Finally", "This answer came too late."), "text/html; charset=utf-8")

    def _drip(self, seconds: float) -> None:
        self._start_chunked("text/html; charset=utf-8")
        if not self._send_body:
            return
        deadline = time.monotonic() + seconds
        ok = self._write_chunk(b"<!DOCTYPE html>\n<html><head><title>Drip</title></head><body>\n")
        n = 0
        while ok and time.monotonic() < deadline:
            if self.server.stopping.wait(_DRIP_INTERVAL):
                self.close_connection = True  # leave the body unfinished; the test is over
                return
            n += 1
            ok = self._write_chunk(b"<p>drip %d</p>\n" % n)
        if ok and self._write_chunk(b"</body></html>\n"):
            self._write_chunk(b"")

    def _drip_bytes(self, chunked: bool) -> None:
        # One Content-Length body, or one HTTP chunk holding the whole body, sent a byte at a time:
        # every socket read on the client gets a byte within half a second, so no read timeout fires.
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(_BYTE_DRIP_BODY)))
        self.end_headers()
        if not self._send_body:
            return
        if chunked and not self._write(b"%x\r\n" % len(_BYTE_DRIP_BODY)):
            return
        for i in range(len(_BYTE_DRIP_BODY)):
            if not self._write(_BYTE_DRIP_BODY[i : i + 1]) or self.server.stopping.wait(_BYTE_DRIP_INTERVAL):
                self.close_connection = True  # the client gave up, or the test is over
                return
        if chunked:
            self._write(b"\r\n0\r\n\r\n")

    def _huge(self, chunked: bool) -> None:
        if chunked:
            self._start_chunked("text/html; charset=utf-8")
        else:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(HUGE_BYTES))
            self.end_headers()
        if not self._send_body:
            return
        write = self._write_chunk if chunked else self._write
        for _ in range(HUGE_BYTES // len(_HUGE_CHUNK)):
            if self.server.stopping.is_set() or not write(_HUGE_CHUNK):
                self.close_connection = True
                return  # the client hung up (it hit its size limit): stop quietly
        if chunked:
            self._write_chunk(b"")

    def _reset(self) -> None:
        # Linger on with a zero timeout makes close() send RST instead of FIN. The socket is closed
        # here (rfile too, which holds a reference), before socketserver's own shutdown(SHUT_WR)
        # could send a FIN first and turn the reset into an ordinary end of stream.
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()


def _page_ids(pages_dir: Path) -> list[str]:
    return sorted(p.name[: -len(".html.gz")] for p in pages_dir.glob("*.html.gz"))


def _robots_txt(crawl_delay: float | None, robots: str | None) -> str:
    if robots is not None:
        return robots
    text = "User-agent: *\nDisallow: /private/\n"
    if crawl_delay is not None:
        text += f"Crawl-delay: {crawl_delay:g}\n"
    return text


@contextmanager
def serve(
    *,
    crawl_delay: float | None = None,
    robots: str | None = None,
    hang_seconds: float = 3.0,
    retry_after: str = "0.3",
    pages_dir: Path = PAGES_DIR,
    latency: float = 0.0,
) -> Iterator[Server]:
    """Run the test site on 127.0.0.1 (a free port) for the duration of the ``with`` block.

    ``crawl_delay`` adds a ``Crawl-delay`` line to the default robots.txt; ``robots`` replaces the
    whole robots.txt text (``crawl_delay`` is then ignored). ``hang_seconds`` is how long /never waits
    before answering and how long /drip keeps dripping; ``retry_after`` is /busy's Retry-After value.
    ``pages_dir`` is the folder of ``<id>.html.gz`` pages served under /pages/ (the 30 fixtures by
    default; the shared checks serve all 181 scrapinghub pages). ``latency`` delays every /pages/
    response by that many seconds, as a distant server would (for benchmarks).
    """
    config = _Config(_robots_txt(crawl_delay, robots), hang_seconds, retry_after, latency)
    httpd = _HTTPServer(None, config)
    site = Server(f"http://127.0.0.1:{httpd.server_port}", _page_ids(pages_dir), pages_dir)
    httpd.site = site
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": _STOP_POLL}, name="test-web-server", daemon=True
    )
    thread.start()
    try:
        yield site
    finally:
        httpd.stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join(timeout=5)
