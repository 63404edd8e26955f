#!/usr/bin/python3
"""A minimal WebKitGTK browser for WebKitWebDriver, with a persistent profile.

MiniBrowser in --automation mode always uses an ephemeral data store (like
Safari's private browsing), so nothing survives a restart there. This
browser is what WebKitWebDriver launches instead (its `binary` capability)
when a test needs real on-disk storage: the web context keeps its data in
--profile DIR, and a second launch on the same DIR sees it again.

Arguments: --automation (added by WebKitWebDriver), --profile DIR,
--features=+A,+B (WebKit feature flags to turn on, as MiniBrowser takes
them), --origin-quota-bytes=N (each origin's storage quota), --loopback-only (send every non-loopback request to a closed
loopback port, so tests never reach the network).
"""
import os
import signal
import sys

import gi

gi.require_version('Gtk', '3.0')
gi.require_version('WebKit2', '4.1')
from gi.repository import GLib, Gtk, WebKit2  # noqa: E402


def parse_args(argv):
    opts = {'profile': None, 'features': [], 'loopback_only': False, 'origin_quota': 0}
    for arg in argv:
        if arg.startswith('--profile='):
            opts['profile'] = arg.split('=', 1)[1]
        elif arg.startswith('--features='):
            opts['features'] = [f for f in arg.split('=', 1)[1].split(',') if f]
        elif arg.startswith('--origin-quota-bytes='):
            opts['origin_quota'] = int(arg.split('=', 1)[1])
        elif arg == '--loopback-only':
            opts['loopback_only'] = True
    if not opts['profile']:
        sys.exit('webkit-browser: --profile=DIR is required')
    return opts


def make_settings(features):
    settings = WebKit2.Settings()
    settings.set_enable_developer_extras(False)
    wanted = {f[1:]: f[0] == '+' for f in features if f[:1] in '+-'}
    all_features = WebKit2.Settings.get_all_features()
    for i in range(all_features.get_length()):
        feature = all_features.get(i)
        if feature.get_identifier() in wanted:
            settings.set_feature_enabled(feature, wanted[feature.get_identifier()])
    return settings


def main():
    opts = parse_args(sys.argv[1:])
    Gtk.init(None)
    quota = {}
    if opts['origin_quota']:
        # WebKit takes the quota as a share of the volume holding the data.
        volume = os.statvfs(opts['profile'])
        quota['origin_storage_ratio'] = opts['origin_quota'] / (volume.f_blocks * volume.f_frsize)
    manager = WebKit2.WebsiteDataManager(
        base_data_directory=opts['profile'] + '/data',
        base_cache_directory=opts['profile'] + '/cache',
        **quota,
    )
    if opts['loopback_only']:
        # Port 9 on loopback is closed: a request for any other host fails at once.
        proxy = WebKit2.NetworkProxySettings.new('http://127.0.0.1:9', ['127.0.0.1', 'localhost', '::1'])
        manager.set_network_proxy_settings(WebKit2.NetworkProxyMode.CUSTOM, proxy)
    context = WebKit2.WebContext.new_with_website_data_manager(manager)
    context.set_automation_allowed(True)
    settings = make_settings(opts['features'])
    windows = set()

    def window_gone(window):
        windows.discard(window)
        if not windows:
            Gtk.main_quit()

    def create_web_view(_session):
        view = WebKit2.WebView(web_context=context, settings=settings, is_controlled_by_automation=True)
        window = Gtk.Window()
        window.set_default_size(1024, 768)
        window.add(view)
        view.connect('close', lambda _view: window.destroy())
        window.connect('destroy', window_gone)
        windows.add(window)
        window.show_all()
        return view

    def automation_started(_context, session):
        info = WebKit2.ApplicationInfo()
        info.set_name('hearth-webkit')
        info.set_version(1, 0, 0)
        session.set_application_info(info)
        session.connect('create-web-view', create_web_view)

    context.connect('automation-started', automation_started)
    # An orderly stop (the driver ending the session) flushes storage first.
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda: Gtk.main_quit() or False)
    Gtk.main()


if __name__ == '__main__':
    main()
