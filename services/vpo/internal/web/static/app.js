// vpo dashboard: live updates (Server-Sent Events, with a periodic refresh
// when they are unavailable) and the buttons and forms that change state
// through the JSON API. No dependencies.
(function () {
  'use strict';

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute('content') : '';

  function say(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }

  // post sends a JSON body to the API and resolves with the decoded answer;
  // it rejects with the API's error message.
  function post(url, body) {
    var headers = { 'Content-Type': 'application/json' };
    if (csrf) { headers['X-CSRF-Token'] = csrf; }
    return fetch(url, {
      method: 'POST', headers: headers, credentials: 'same-origin',
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.text().then(function (text) {
        var data = {};
        try { data = JSON.parse(text); } catch (e) { data = {}; }
        if (!r.ok) { throw new Error(data.error || (r.status + ' ' + r.statusText)); }
        return data;
      });
    });
  }

  // refresh fetches the page again and swaps in its live part; several
  // calls within 300 ms make one request.
  var pending = null;
  function refresh() {
    if (pending) { return; }
    pending = setTimeout(function () {
      fetch(window.location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
        .then(function (r) { return (r.ok && !r.redirected) ? r.text() : null; })
        .then(function (html) {
          pending = null;
          if (!html) { return; }
          var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('live');
          var cur = document.getElementById('live');
          if (!fresh || !cur) { return; }
          var focused = document.activeElement;
          var label = focused && cur.contains(focused) ? focused.getAttribute('aria-label') : null;
          cur.replaceWith(document.adoptNode(fresh));
          if (label) {
            var again = document.querySelector('#live [aria-label="' + label.replace(/"/g, '\\"') + '"]');
            if (again) { again.focus(); }
          }
        })
        .catch(function () { pending = null; });
    }, 300);
  }

  document.addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-action]');
    if (!b) { return; }
    ev.preventDefault();
    b.disabled = true;
    post(b.getAttribute('data-action'), {}).then(function () {
      say('notice', b.getAttribute('data-done') || 'Done.');
      refresh();
    }, function (err) {
      say('notice', 'Refused: ' + err.message);
      b.disabled = false;
    });
  });

  // A form with data-job-kind submits a job whose payload is the values of
  // its data-field controls, then opens data-next with the job's id.
  document.addEventListener('submit', function (ev) {
    var f = ev.target;
    if (!f.hasAttribute('data-job-kind')) { return; }
    ev.preventDefault();
    var payload = {};
    f.querySelectorAll('[data-field]').forEach(function (el) {
      var name = el.getAttribute('data-field');
      if (el.hasAttribute('data-value')) { payload[name] = JSON.parse(el.getAttribute('data-value')); }
      else if (el.type === 'checkbox') { payload[name] = el.checked; }
      else { payload[name] = el.value; }
    });
    post('/api/jobs', { kind: f.getAttribute('data-job-kind'), payload: payload }).then(function (job) {
      window.location.assign(f.getAttribute('data-next').replace('{id}', encodeURIComponent(job.id)));
    }, function (err) {
      say('notice', 'Refused: ' + err.message);
    });
  });

  // progress moves a running job's bars in place.
  function progress(d) {
    var pct = Math.round(d.percent || 0);
    document.querySelectorAll('[data-progress-for="' + d.id + '"]').forEach(function (p) {
      p.value = d.percent || 0;
      p.textContent = pct + '%';
    });
    var text = pct + '%' + (d.message ? ' — ' + d.message : '');
    if (d.eta_seconds) { text += ' (about ' + d.eta_seconds + 's left)'; }
    document.querySelectorAll('[data-pct-for="' + d.id + '"]').forEach(function (el) { el.textContent = text; });
  }

  var live = document.body.getAttribute('data-live');
  if (!live) { return; }
  var poll = null;
  function fallback() {
    if (poll) { return; }
    poll = setInterval(refresh, 10000);
    say('live-status', 'Live updates are unavailable: this page refreshes every 10 seconds.');
  }
  if (!window.EventSource) { fallback(); return; }
  var url = '/api/events?types=' + encodeURIComponent(live);
  var job = document.body.getAttribute('data-job');
  if (job) { url += '&job=' + encodeURIComponent(job); }
  var es = new EventSource(url);
  es.onopen = function () {
    if (poll) { clearInterval(poll); poll = null; refresh(); }
    say('live-status', 'Live: this page updates by itself.');
  };
  es.onerror = function () { fallback(); };
  ['job.created', 'job.started', 'job.queued', 'job.finished', 'job.cancel_requested', 'job.log',
    'queue.paused', 'queue.resumed', 'queue.window', 'library.scan_started', 'library.scan_finished',
    'health.changed', 'lost'].forEach(function (type) {
    es.addEventListener(type, refresh);
  });
  es.addEventListener('job.progress', function (ev) {
    try { progress(JSON.parse(ev.data)); } catch (e) { refresh(); }
  });
}());
