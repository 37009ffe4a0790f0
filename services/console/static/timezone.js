// The browser's time zone in the `tz` cookie, for the console to cut days at
// the visitor's midnight while the account has no zone of its own
// (services/console/render.py, time_zone_of). Set once: never over a cookie
// already there. A year long, every path, same site only.
(function () {
  "use strict";
  if (/(?:^|;\s*)tz=/.test(document.cookie)) {
    return;
  }
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (error) {
    return;
  }
  if (!/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) {
    return;
  }
  var secure = window.location.protocol === "https:" ? "; Secure" : "";
  document.cookie = "tz=" + zone + "; Path=/; Max-Age=31536000; SameSite=Lax" + secure;
})();
