"""Close an X11 window the way a window manager's close button does: send it WM_DELETE_WINDOW.

    python3 tests/ui/close_window.py TITLE
    python3 tests/ui/close_window.py --count TITLE   only print how many windows have that title

(WebDriver's "close window" makes WebKitWebDriver kill the app outright; a user's close is a
polite request the app handles.) Uses libX11 through ctypes; DISPLAY must be set. Exit 0 when a
window with that exact title got the request, 1 when none was found.
"""

import ctypes
import ctypes.util
import sys

X = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
Window = ctypes.c_ulong
Atom = ctypes.c_ulong


class ClientMessage(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", Window),
        ("message_type", Atom),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class XEvent(ctypes.Union):
    _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]


X.XOpenDisplay.restype = ctypes.c_void_p
X.XOpenDisplay.argtypes = [ctypes.c_char_p]
X.XDefaultRootWindow.restype = Window
X.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
X.XInternAtom.restype = Atom
X.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
X.XQueryTree.argtypes = [
    ctypes.c_void_p,
    Window,
    ctypes.POINTER(Window),
    ctypes.POINTER(Window),
    ctypes.POINTER(ctypes.POINTER(Window)),
    ctypes.POINTER(ctypes.c_uint),
]
X.XFetchName.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(ctypes.c_char_p)]
X.XSendEvent.argtypes = [ctypes.c_void_p, Window, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
X.XFlush.argtypes = [ctypes.c_void_p]
X.XFree.argtypes = [ctypes.c_void_p]


def windows(d, w):
    root, parent = Window(), Window()
    kids = ctypes.POINTER(Window)()
    n = ctypes.c_uint()
    if not X.XQueryTree(d, w, ctypes.byref(root), ctypes.byref(parent), ctypes.byref(kids), ctypes.byref(n)):
        return
    children = [kids[i] for i in range(n.value)]
    if kids:
        X.XFree(kids)
    for c in children:
        yield c
        yield from windows(d, c)


def main():
    count_only = sys.argv[1] == "--count"
    title = sys.argv[-1].encode()
    d = X.XOpenDisplay(None)
    if not d:
        print("cannot open the X display", file=sys.stderr)
        return 2
    protocols = X.XInternAtom(d, b"WM_PROTOCOLS", 0)
    delete = X.XInternAtom(d, b"WM_DELETE_WINDOW", 0)
    sent = 0
    for w in windows(d, X.XDefaultRootWindow(d)):
        name = ctypes.c_char_p()
        if X.XFetchName(d, w, ctypes.byref(name)) and name.value == title:
            sent += 1
            if count_only:
                continue
            ev = XEvent()
            ev.xclient.type = 33  # ClientMessage
            ev.xclient.window = w
            ev.xclient.message_type = protocols
            ev.xclient.format = 32
            ev.xclient.data[0] = delete
            ev.xclient.data[1] = 0  # CurrentTime
            X.XSendEvent(d, w, 0, 0, ctypes.byref(ev))
    X.XFlush(d)
    if count_only:
        print(sent)
        return 0
    print(f"sent WM_DELETE_WINDOW to {sent} window(s) titled {sys.argv[-1]!r}")
    return 0 if sent else 1


if __name__ == "__main__":
    sys.exit(main())
