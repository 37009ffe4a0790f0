// Optional product analytics (PostHog): see services/console/analytics.py.
// Loaded only when the operator set POSTHOG_KEY; nothing on the page waits for it.
(function () {
  "use strict";
  var tag = document.currentScript;
  if (!tag || !tag.dataset.key) return;

  // The stub PostHog's array.js expects, as its documented snippet builds it:
  // `_i` holds the init arguments, calls made before the library arrives are
  // queued on the array, and the library replays them when it loads.
  var posthog = window.posthog = window.posthog || [];
  if (!posthog.__SV) {
    posthog._i = [[tag.dataset.key, {
      api_host: tag.dataset.host,
      person_profiles: "identified_only",
      autocapture: false,
      capture_pageview: true,
      capture_pageleave: false,
      disable_session_recording: true,
      disable_surveys: true,
      before_send: withoutQuery
    }, "posthog"]];
    posthog.capture = function () {
      posthog.push(["capture"].concat(Array.prototype.slice.call(arguments)));
    };
    posthog.__SV = 1;
    // Added once the page has loaded, so a slow or silent PostHog never holds
    // the page's load (the tab's spinner) either.
    var addLibrary = function () {
      var library = document.createElement("script");
      library.async = true;
      library.crossOrigin = "anonymous";
      library.src = tag.dataset.assets + "/static/array.js";
      document.head.appendChild(library);
    };
    if (document.readyState === "complete") addLibrary();
    else window.addEventListener("load", addLibrary);
  }

  // An address's query can hold a mailed token: PostHog never sees it.
  function withoutQuery(event) {
    if (event && event.properties) {
      ["$current_url", "$referrer", "$pathname"].forEach(function (name) {
        var value = event.properties[name];
        if (typeof value === "string") event.properties[name] = value.split(/[?#]/)[0];
      });
    }
    return event;
  }

  function capture(name, properties) {
    window.posthog.capture(name, properties || {});
  }

  // An event the server marked on the page (a sign-up done, a key created).
  var marked = document.body.dataset.analyticsEvent;
  if (marked) capture(marked);
  // A setup snippet copied (static/copy.js announces it).
  document.addEventListener("tollgate:copied", function (event) {
    var block = (event.detail && event.detail.block) || "";
    if (block !== "key-secret") capture("config_copied", { block: block });
  });
})();
