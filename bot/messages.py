"""Every user-facing string, in Arabic (the default) and English, plus numerals and relative-time phrases.

Owns wording only: knows nothing of Telegram, HTML or the store. Placeholders are filled by the caller.
"""

from __future__ import annotations

LANGUAGES = ("ar", "en")

AR_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

TEXTS: dict[str, dict[str, str]] = {
    "ar": {
        "source": "المصدر",
        "also_reported_by": "📚 نقلته أيضًا: {names} ({count})",
        "open_article": "فتح الخبر",
        "just_now": "الآن",
        "digest_header": "🗞 ملخص التنبيهات: {count}",
        "found_in": "🔎 في {fields}",
        "field_title": "العنوان",
        "field_summary": "الملخص",
        "field_body": "نص الخبر",
        "field_text": "النص",
        "mute_entry_button": "🔕 كتم «{name}» ٢٤ ساعة",
        "unmute_entry_button": "🔔 إلغاء كتم «{name}»",
        "start_ok": "✅ تم اشتراك هذه المحادثة في كل قوائم المتابعة ({count}).\n"
                    "اختر القوائم عبر /watchlists، والمساعدة عبر /help.",
        "start_none": "✅ تم تفعيل هذه المحادثة، لكن لا توجد قوائم متابعة بعد.",
        "stop_ok": "🔕 أُلغي اشتراك هذه المحادثة في كل القوائم. أرسل /start للعودة.",
        "help": "🤖 بوت تنبيهات الأخبار العربية\n\n"
                "/start — الاشتراك في كل القوائم\n"
                "/stop — إيقاف كل التنبيهات\n"
                "/watchlists — عرض القوائم وتبديل الاشتراك\n"
                "/subscribe &lt;المعرّف&gt; — الاشتراك في قائمة\n"
                "/unsubscribe &lt;المعرّف&gt; — إلغاء الاشتراك في قائمة\n"
                "/lang ar|en — لغة الرسائل\n"
                "/mute &lt;مدة&gt; — كتم التنبيهات مؤقتًا (مثل 30m أو 2h أو 1d)\n"
                "/unmute — إلغاء الكتم\n"
                "/quiet 23:00-07:00 — ساعات الهدوء (ملخص واحد عند انتهائها)\n"
                "/digest off|hourly|daily 08:00 — تنبيهات مجمّعة\n"
                "/tz &lt;المنطقة&gt; — المنطقة الزمنية\n"
                "/recent [المعرّف] — آخر ١٠ أخبار مطابقة\n"
                "/status — الحالة",
        "watchlists_header": "📋 قوائم المتابعة (✅ مشترك، ⬜ غير مشترك). اضغط للتبديل:",
        "watchlists_none": "لا توجد قوائم متابعة.",
        "subscribe_usage": "الاستخدام: /subscribe &lt;المعرّف&gt;\nالقوائم: {ids}",
        "unsubscribe_usage": "الاستخدام: /unsubscribe &lt;المعرّف&gt;\nالقوائم: {ids}",
        "unknown_watchlist": "لا توجد قائمة بالمعرّف «{id}». القوائم: {ids}",
        "subscribed": "✅ اشتركت في: {title}",
        "unsubscribed": "☑️ أُلغي الاشتراك في: {title}",
        "lang_usage": "الاستخدام: /lang ar أو /lang en",
        "lang_set": "تم ضبط اللغة: العربية.",
        "refused": "عذرًا، هذه المحادثة غير مصرّح لها باستخدام هذا البوت.\n"
                   "معرّف المحادثة: <code>{chat_id}</code>\nأرسل هذا المعرّف إلى مشرف البوت ليضيفها.",
        "refused_short": "غير مصرّح",
        "status_user": "📊 الحالة: {state}\nاشتراكاتك: {subs}",
        "status_active": "مفعّلة",
        "status_inactive": "متوقفة (أرسل /start)",
        "status_muted": "مكتومة حتى {until}",
        "status_none": "لا شيء",
        "status_admin": "📊 الخلاصات ({count}):\n{feeds}\n\n"
                        "📤 الطابور: بانتظار الإرسال {pending}، أُرسل {sent}، فشل {failed}، لم يُرسل لكتمٍ {skipped}\n"
                        "✏️ تعديلات «نقلته أيضاً»: بانتظار {edits_pending}، تمّ {edits_done}، فشل {edits_failed}",
        "feed_ok": "✅ {feed} — آخر نجاح {when}",
        "feed_failing": "⚠️ {feed} — {errors} أخطاء متتالية: {error}",
        "feed_never": "⏳ {feed} — لم يُجلب بعد",
        "toggled_on": "✅ تم الاشتراك: {title}",
        "toggled_off": "☑️ أُلغي الاشتراك: {title}",
        "mute_usage": "الاستخدام: /mute &lt;مدة&gt; مثل 30m أو 2h أو 1d (حتى 30 يومًا)",
        "muted": "🔇 كُتمت التنبيهات حتى {until}. لن تصلك تنبيهات هذه المدة لاحقًا، لكنها تظهر في /recent.",
        "unmuted": "🔔 عادت التنبيهات.",
        "recent_none": "لا تنبيهات حديثة.",
        "recent_header": "🕘 آخر التنبيهات:",
        "approval_request": "🔐 طلب وصول من محادثة غير معروفة:\n{who}\nمعرّف المحادثة: <code>{chat_id}</code>",
        "approve": "✅ قبول",
        "deny": "⛔ رفض",
        "approval_pending": "طلب الوصول أُرسل إلى المشرفين. معرّف المحادثة: <code>{chat_id}</code>",
        "approved": "✅ قُبلت المحادثة {chat_id}.",
        "denied": "⛔ رُفضت المحادثة {chat_id}.",
        "you_are_approved": "✅ وافق المشرف على وصولك. أرسل /start للاشتراك.",
        "revoke_usage": "الاستخدام: /revoke &lt;معرّف المحادثة&gt;",
        "revoked": "تم سحب وصول المحادثة {chat_id}.",
        "admins_only": "هذا الأمر للمشرفين فقط.",
        "cmd_start": "الاشتراك في كل قوائم المتابعة",
        "cmd_stop": "إيقاف كل التنبيهات",
        "cmd_help": "المساعدة",
        "cmd_watchlists": "القوائم وتبديل الاشتراك",
        "cmd_subscribe": "الاشتراك في قائمة",
        "cmd_unsubscribe": "إلغاء الاشتراك في قائمة",
        "cmd_lang": "لغة الرسائل (ar أو en)",
        "cmd_status": "الحالة",
        "cmd_mute": "كتم التنبيهات مؤقتًا",
        "cmd_unmute": "إلغاء الكتم",
        "cmd_recent": "آخر التنبيهات",
        "feed_next": " · الجلب التالي {when}",
        "status_today": "📈 مطابقات اليوم:\n{lines}",
        "status_quiet": "🌙 ساعات الهدوء: {quiet}",
        "status_digest": "🗞 الملخص: {digest}",
        "status_tz": "🕰 المنطقة الزمنية: {tz}",
        "status_entries": "🔕 عناصر مكتومة: {names}",
        "quiet_usage": "الاستخدام: /quiet 23:00-07:00 (بتوقيتك) أو /quiet off\n"
                       "التنبيهات المؤجلة تصل في ملخص واحد عند انتهاء ساعات الهدوء.",
        "quiet_set": "🌙 ساعات الهدوء: {quiet} ({tz}). ما يصل خلالها يأتيك في ملخص واحد عند انتهائها.",
        "quiet_off": "☀️ أُلغيت ساعات الهدوء.",
        "digest_usage": "الاستخدام: /digest off أو /digest hourly أو /digest daily 08:00",
        "digest_off": "📨 أُلغي الملخص: تصل التنبيهات فور نشرها.",
        "digest_set": "🗞 تصل التنبيهات مجمّعة في ملخص {when}.",
        "digest_hourly": "كل ساعة",
        "tz_usage": "الاستخدام: /tz Asia/Damascus\nالمنطقة الحالية: {tz}",
        "tz_unknown": "منطقة زمنية غير معروفة: «{tz}». مثال: Asia/Damascus أو Europe/Berlin",
        "tz_set": "🕰 المنطقة الزمنية: {tz}. الساعة الآن عندك {now}.",
        "entry_unknown": "هذا العنصر لم يعد في قوائم المتابعة.",
        "entry_muted": "🔕 كُتم «{name}» حتى {until}.",
        "entry_unmuted": "🔔 أُلغي كتم «{name}».",
        "entries_button": "⚙️ العناصر ({count})",
        "entries_header": "⚙️ عناصر «{title}» (✅ تصل تنبيهاته، 🔕 متوقف). اضغط للتبديل:",
        "back": "↩️ رجوع",
        "entry_on": "✅ عاد: {name}",
        "entry_off": "🔕 أُوقف: {name}",
        "cmd_quiet": "ساعات الهدوء (مثل 23:00-07:00)",
        "cmd_digest": "ملخص: off أو hourly أو daily 08:00",
        "cmd_tz": "المنطقة الزمنية",
    },
    "en": {
        "source": "Source",
        "also_reported_by": "📚 Also reported by: {names} ({count})",
        "open_article": "Open article",
        "just_now": "just now",
        "digest_header": "🗞 Alert digest: {count}",
        "found_in": "🔎 in {fields}",
        "field_title": "title",
        "field_summary": "summary",
        "field_body": "article body",
        "field_text": "text",
        "mute_entry_button": "🔕 Mute “{name}” for 24 h",
        "unmute_entry_button": "🔔 Unmute “{name}”",
        "start_ok": "✅ This chat is subscribed to all watchlists ({count}).\n"
                    "Pick watchlists with /watchlists; /help for help.",
        "start_none": "✅ This chat is active, but there are no watchlists yet.",
        "stop_ok": "🔕 This chat is unsubscribed from all watchlists. Send /start to come back.",
        "help": "🤖 Arabic news alert bot\n\n"
                "/start — subscribe to all watchlists\n"
                "/stop — stop all alerts\n"
                "/watchlists — list watchlists and toggle them\n"
                "/subscribe &lt;id&gt; — subscribe to one watchlist\n"
                "/unsubscribe &lt;id&gt; — unsubscribe from one watchlist\n"
                "/lang ar|en — message language\n"
                "/mute &lt;duration&gt; — pause alerts (e.g. 30m, 2h, 1d)\n"
                "/unmute — resume alerts\n"
                "/quiet 23:00-07:00 — quiet hours (one digest when they end)\n"
                "/digest off|hourly|daily 08:00 — alerts in batches\n"
                "/tz &lt;zone&gt; — your timezone\n"
                "/recent [id] — last 10 matched stories\n"
                "/status — status",
        "watchlists_header": "📋 Watchlists (✅ subscribed, ⬜ not subscribed). Tap to toggle:",
        "watchlists_none": "There are no watchlists.",
        "subscribe_usage": "Usage: /subscribe &lt;id&gt;\nWatchlists: {ids}",
        "unsubscribe_usage": "Usage: /unsubscribe &lt;id&gt;\nWatchlists: {ids}",
        "unknown_watchlist": "No watchlist with id “{id}”. Watchlists: {ids}",
        "subscribed": "✅ Subscribed to: {title}",
        "unsubscribed": "☑️ Unsubscribed from: {title}",
        "lang_usage": "Usage: /lang ar or /lang en",
        "lang_set": "Language set: English.",
        "refused": "Sorry, this chat is not allowed to use this bot.\n"
                   "Chat id: <code>{chat_id}</code>\nSend this id to the bot's admin to be added.",
        "refused_short": "Not allowed",
        "status_user": "📊 Status: {state}\nYour watchlists: {subs}",
        "status_active": "active",
        "status_inactive": "stopped (send /start)",
        "status_muted": "muted until {until}",
        "status_none": "none",
        "status_admin": "📊 Feeds ({count}):\n{feeds}\n\n📤 Queue: pending {pending}, sent {sent}, failed {failed}, "
                        "muted when due {skipped}\n✏️ \"Also reported by\" edits: pending {edits_pending}, "
                        "done {edits_done}, failed {edits_failed}",
        "feed_ok": "✅ {feed} — last success {when}",
        "feed_failing": "⚠️ {feed} — {errors} errors in a row: {error}",
        "feed_never": "⏳ {feed} — not fetched yet",
        "toggled_on": "✅ Subscribed: {title}",
        "toggled_off": "☑️ Unsubscribed: {title}",
        "mute_usage": "Usage: /mute &lt;duration&gt; e.g. 30m, 2h or 1d (up to 30 days)",
        "muted": "🔇 Alerts muted until {until}. Alerts found meanwhile will not be sent later; /recent lists them.",
        "unmuted": "🔔 Alerts resumed.",
        "recent_none": "No recent alerts.",
        "recent_header": "🕘 Latest alerts:",
        "approval_request": "🔐 Access request from an unknown chat:\n{who}\nChat id: <code>{chat_id}</code>",
        "approve": "✅ Approve",
        "deny": "⛔ Deny",
        "approval_pending": "Your access request was sent to the admins. Chat id: <code>{chat_id}</code>",
        "approved": "✅ Chat {chat_id} approved.",
        "denied": "⛔ Chat {chat_id} denied.",
        "you_are_approved": "✅ An admin approved this chat. Send /start to subscribe.",
        "revoke_usage": "Usage: /revoke &lt;chat id&gt;",
        "revoked": "Access revoked for chat {chat_id}.",
        "admins_only": "This command is for admins only.",
        "cmd_start": "Subscribe to all watchlists",
        "cmd_stop": "Stop all alerts",
        "cmd_help": "Help",
        "cmd_watchlists": "Watchlists and toggles",
        "cmd_subscribe": "Subscribe to a watchlist",
        "cmd_unsubscribe": "Unsubscribe from a watchlist",
        "cmd_lang": "Message language (ar or en)",
        "cmd_status": "Status",
        "cmd_mute": "Pause alerts for a while",
        "cmd_unmute": "Resume alerts",
        "cmd_recent": "Latest alerts",
        "feed_next": " · next poll {when}",
        "status_today": "📈 Matches today:\n{lines}",
        "status_quiet": "🌙 Quiet hours: {quiet}",
        "status_digest": "🗞 Digest: {digest}",
        "status_tz": "🕰 Timezone: {tz}",
        "status_entries": "🔕 Muted entries: {names}",
        "quiet_usage": "Usage: /quiet 23:00-07:00 (your time) or /quiet off\n"
                       "Alerts held during quiet hours arrive as one digest when they end.",
        "quiet_set": "🌙 Quiet hours: {quiet} ({tz}). Alerts in that time arrive as one digest when it ends.",
        "quiet_off": "☀️ Quiet hours are off.",
        "digest_usage": "Usage: /digest off, /digest hourly or /digest daily 08:00",
        "digest_off": "📨 Digest off: alerts arrive as soon as they are found.",
        "digest_set": "🗞 Alerts now arrive together in a digest {when}.",
        "digest_hourly": "every hour",
        "tz_usage": "Usage: /tz Asia/Damascus\nCurrent timezone: {tz}",
        "tz_unknown": "Unknown timezone “{tz}”. For example: Asia/Damascus or Europe/Berlin",
        "tz_set": "🕰 Timezone: {tz}. Your time now: {now}.",
        "entry_unknown": "This entry is no longer in the watchlists.",
        "entry_muted": "🔕 “{name}” muted until {until}.",
        "entry_unmuted": "🔔 “{name}” unmuted.",
        "entries_button": "⚙️ Entries ({count})",
        "entries_header": "⚙️ Entries of “{title}” (✅ alerts on, 🔕 off). Tap to switch:",
        "back": "↩️ Back",
        "entry_on": "✅ On again: {name}",
        "entry_off": "🔕 Off: {name}",
        "cmd_quiet": "Quiet hours (e.g. 23:00-07:00)",
        "cmd_digest": "Digest: off, hourly or daily 08:00",
        "cmd_tz": "Your timezone",
    },
}

# (one, two, few 3–10, many 11+) for Arabic; (one, other) for English
UNITS: dict[str, dict[str, tuple[str, ...]]] = {
    "ar": {"minute": ("دقيقة", "دقيقتين", "دقائق", "دقيقة"), "hour": ("ساعة", "ساعتين", "ساعات", "ساعة"),
           "day": ("يوم", "يومين", "أيام", "يومًا"), "source": ("مصدر", "مصدران", "مصادر", "مصدرًا")},
    "en": {"minute": ("min", "min"), "hour": ("h", "h"), "day": ("day", "days"), "source": ("source", "sources")},
}


def lang(language: str | None) -> str:
    """A supported language code; anything else falls back to Arabic."""
    return language if language in LANGUAGES else "ar"


def text(language: str | None, key: str, **values: object) -> str:
    template = TEXTS[lang(language)][key]
    return template.format(**values) if values else template


def number(language: str | None, n: int) -> str:
    return str(n).translate(AR_DIGITS) if lang(language) == "ar" else str(n)


def ago(language: str | None, seconds: float) -> str:
    """'قبل ٥ دقائق' / '5 min ago'; 'الآن' / 'just now' under a minute or in the future."""
    language = lang(language)
    if seconds < 60:
        return text(language, "just_now")
    minutes = int(seconds // 60)
    if minutes < 60:
        unit, n = "minute", minutes
    elif minutes < 24 * 60:
        unit, n = "hour", minutes // 60
    else:
        unit, n = "day", minutes // (24 * 60)
    forms = UNITS[language][unit]
    if language == "en":
        return f"{n} {forms[0] if n == 1 else forms[1]} ago"
    if n == 1:
        return f"قبل {forms[0]}"
    if n == 2:
        return f"قبل {forms[1]}"
    return f"قبل {number(language, n)} {forms[2] if n <= 10 else forms[3]}"
