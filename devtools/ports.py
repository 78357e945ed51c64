"""Free TCP ports on the loopback interface."""

import socket

LOOPBACK = "127.0.0.1"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    The kernel picks it; it is closed again before returning, so another
    process could grab it in between (harmless for tests on one machine).

    :return: the port number
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_open(port, host=LOOPBACK, timeout=0.2):
    """Whether something accepts TCP connections on ``host:port``.

    :param int port: the port to try
    :param str host: the address to try
    :param float timeout: seconds to wait for the connection
    :return: True when a connection could be made
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
