# The standard-library modules the interpreter offers. componentize-py
# snapshots the interpreter after importing `app` at build time and ships
# only the modules imported by then (no stdlib files exist at run time), so
# every module code may `import` must be imported here, once, at build time.
# A module that cannot be imported in WASI (no processes, threads, sockets,
# or a C extension componentize-py does not build) is skipped and recorded
# in UNAVAILABLE with the reason, which the README lists.
import importlib

MODULES = """
abc argparse array ast base64 binascii bisect bz2 calendar cmath codecs collections
collections.abc colorsys configparser contextlib contextvars copy csv dataclasses datetime
decimal difflib dis email email.message email.parser email.utils enum errno fnmatch
fractions functools gc getopt gettext glob graphlib gzip hashlib heapq hmac html
html.entities html.parser http http.client http.cookies inspect io ipaddress itertools json
keyword linecache locale logging lzma math mimetypes numbers operator os os.path pathlib
pickle platform pprint queue quopri random re reprlib sched secrets selectors shlex shutil
signal socket sqlite3 statistics string stringprep struct subprocess sys sysconfig tarfile
tempfile textwrap threading time timeit tokenize tomllib traceback types typing
unicodedata urllib urllib.error urllib.parse urllib.request uuid warnings weakref
xml xml.dom xml.dom.minidom xml.etree.ElementTree xml.sax zipfile zlib zoneinfo
concurrent.futures asyncio multiprocessing ctypes ssl mmap fcntl resource termios pty
curses readline grp pwd
encodings.idna encodings.cp437 encodings.cp1252 encodings.latin_1 encodings.ascii
encodings.utf_16 encodings.utf_32 encodings.punycode encodings.hex_codec encodings.base64_codec
importlib.resources importlib.metadata
""".split()

UNAVAILABLE = {}
for _name in MODULES:
    try:
        importlib.import_module(_name)
    except BaseException as _e:  # noqa: BLE001 - any failure means "not offered"
        UNAVAILABLE[_name] = f"{type(_e).__name__}: {_e}"
