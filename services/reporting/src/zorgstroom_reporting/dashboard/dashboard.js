/* Zorgstroom reporting dashboard: reads the /v1 reports with the user's bearer token and shows each as a
   chart and as a table of the same numbers. Plain script, no build step. The token is a person's access
   token when the service names an OpenID Connect issuer (/dashboard/config.json): the login runs there
   (authorization code with PKCE, by the vendored oidc-client-ts); otherwise one the user pastes in. Nothing
   else leaves this origin.
   Every number comes from the API as it is. Where the API protects small numbers (random rounding to 5,
   its `disclosure` block), each section says so: "afgerond op 5". */
/* global echarts, oidc */
'use strict';

(function () {
  const TOKEN_KEY = 'zorgstroom.reporting.token'; // sessionStorage only: never localStorage, never a cookie
  const COLOURS = ['#0b4f8a', '#b3261e', '#1b7a3a', '#6b3fa0', '#8a5a00', '#00707a', '#3d3d3d'];
  const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", Arial, sans-serif';
  const CARE_FORMS = {
    BW_24H: 'Beschermd wonen, 24 uur',
    BW_HOME: 'Beschermd thuis',
    MO_24H: 'Maatschappelijke opvang, 24 uur',
    MO_NIGHT: 'Nachtopvang',
    MO_EMERGENCY: 'Crisisopvang',
  };
  const STATUS_TEXT = {
    401: 'Niet aangemeld of token niet geaccepteerd',
    403: 'Geen toegang met dit token',
    404: 'Niet gevonden',
    422: 'Ongeldige keuze',
  };

  const integer = new Intl.NumberFormat('nl-NL', { maximumFractionDigits: 0 });
  const decimal = new Intl.NumberFormat('nl-NL', { maximumFractionDigits: 1 });
  const euro = new Intl.NumberFormat('nl-NL', { style: 'currency', currency: 'EUR' });
  const euroShort = new Intl.NumberFormat('nl-NL', { notation: 'compact', maximumFractionDigits: 1 });
  const percent = new Intl.NumberFormat('nl-NL', { style: 'percent', minimumFractionDigits: 4 });
  const monthName = new Intl.DateTimeFormat('nl-NL', { month: 'long', year: 'numeric', timeZone: 'UTC' });
  const dayName = new Intl.DateTimeFormat('nl-NL', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });

  const $ = (id) => document.getElementById(id);
  const state = {
    token: null, region: null, names: new Map(), order: [], charts: new Map(), generation: 0,
    login: null, // the OpenID Connect login, when the service names an issuer
    home: null, // a municipality's own code: the person's first view
  };

  // ---- formatting -----------------------------------------------------------------------------------------

  function shown(value, format) {
    if (value === null || value === undefined) return '–';
    if (typeof value === 'number') return format.format(value);
    return String(value);
  }
  const count = (v) => shown(v, integer);
  const days = (v) => shown(v, decimal);
  const money = (v) => shown(v, euro);
  const share = (v) => shown(v, percent);
  const plotted = (v) => (typeof v === 'number' ? v : null);

  function monthText(month) {
    const [year, m] = month.split('-').map(Number);
    return monthName.format(Date.UTC(year, m - 1, 1));
  }
  function dayText(day) {
    const [year, m, d] = day.split('-').map(Number);
    return dayName.format(Date.UTC(year, m - 1, d));
  }
  const nameOf = (code) => state.names.get(code) || code;
  const careForm = (code) => (CARE_FORMS[code] ? `${CARE_FORMS[code]} (${code})` : code);

  // ---- the API ---------------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, problem) {
      const prefix = STATUS_TEXT[status] || (status >= 500 ? 'Storing bij de rapportagedienst' : 'Fout');
      let text = `${prefix} (HTTP ${status})`;
      if (problem && typeof problem === 'object') {
        text += `: ${problem.title || ''}${problem.detail ? ` – ${problem.detail}` : ''}`;
        if (Array.isArray(problem.errors)) {
          text += problem.errors.map((e) => ` [${e.field}: ${e.message}]`).join('');
        }
      }
      super(text);
      this.status = status;
      this.problem = problem;
    }
  }

  async function api(path) {
    let response;
    try {
      response = await fetch(path, {
        headers: { Authorization: `Bearer ${state.token}`, Accept: 'application/json' },
        credentials: 'omit',
        cache: 'no-store',
        redirect: 'error',
      });
    } catch (error) {
      throw new Error('De rapportagedienst is niet bereikbaar.');
    }
    const type = response.headers.get('content-type') || '';
    const body = type.includes('json') ? await response.json().catch(() => null) : null;
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  // ---- messages --------------------------------------------------------------------------------------------

  function clearMessages() {
    $('errors').replaceChildren();
    $('status').textContent = '';
    document.querySelectorAll('.section-error').forEach((p) => { p.textContent = ''; });
  }

  function reportError(where, error) {
    const text = error instanceof Error ? error.message : String(error);
    const line = document.createElement('p');
    line.textContent = where ? `${where}: ${text}` : text;
    $('errors').append(line);
    return text;
  }

  // ---- tables ----------------------------------------------------------------------------------------------

  function cell(tag, text, options = {}) {
    const element = document.createElement(tag);
    if (options.scope) element.scope = options.scope;
    if (options.numeric) element.className = 'num';
    if (options.colSpan) element.colSpan = options.colSpan;
    if (options.month) {
      const time = document.createElement('time');
      time.dateTime = options.month;
      time.textContent = monthText(options.month);
      element.append(time);
    } else {
      element.textContent = text;
    }
    return element;
  }

  /* columns: [{label, value(row) -> text, numeric, month(row) -> "YYYY-MM"}]; the first column heads its row. */
  function fillTable(id, caption, columns, rows, foot) {
    const table = $(id);
    table.caption.textContent = caption;
    const head = document.createElement('tr');
    columns.forEach((c) => head.append(cell('th', c.label, { scope: 'col', numeric: c.numeric })));
    table.tHead.replaceChildren(head);
    const body = rows.map((row) => {
      const tr = document.createElement('tr');
      columns.forEach((c, i) => {
        const options = { numeric: c.numeric, scope: i === 0 ? 'row' : undefined };
        if (c.month) options.month = c.month(row);
        tr.append(cell(i === 0 ? 'th' : 'td', c.month ? '' : c.value(row), options));
      });
      return tr;
    });
    if (!rows.length) {
      const tr = document.createElement('tr');
      const empty = cell('td', 'Geen gegevens in deze periode.', { colSpan: columns.length });
      empty.className = 'empty';
      tr.append(empty);
      body.push(tr);
    }
    table.tBodies[0].replaceChildren(...body);
    const footRows = (foot || []).map((values) => {
      const tr = document.createElement('tr');
      values.forEach((v, i) => tr.append(cell(i === 0 ? 'th' : 'td', v, { scope: i === 0 ? 'row' : undefined, numeric: i > 0 && columns[i] && columns[i].numeric })));
      return tr;
    });
    table.tFoot.replaceChildren(...footRows);
  }

  function emptyTable(id) {
    const table = $(id);
    table.tHead.replaceChildren();
    table.tBodies[0].replaceChildren();
    table.tFoot.replaceChildren();
  }

  // ---- charts ----------------------------------------------------------------------------------------------

  function chart(id) {
    if (!state.charts.has(id)) {
      state.charts.set(id, echarts.init($(id), null, { renderer: 'canvas', locale: 'NL' }));
    }
    return state.charts.get(id);
  }

  function draw(id, label, option) {
    const element = $(id);
    element.setAttribute('aria-label', `${label} De cijfers staan in de tabel bij deze grafiek.`);
    const base = {
      animation: false,
      color: COLOURS,
      textStyle: { fontFamily: FONT, color: '#1b1b1b' },
      tooltip: { trigger: 'axis', confine: true },
      legend: { top: 0, textStyle: { color: '#1b1b1b' } },
      // ECharts 6: the grid's own box holds the axis labels (what containLabel did before)
      grid: {
        left: 8, right: 24, top: 48, bottom: 8, outerBoundsMode: 'same', outerBoundsContain: 'axisLabel',
        outerBoundsClampWidth: '45%', outerBoundsClampHeight: '45%',
      },
    };
    const instance = chart(id);
    instance.clear();
    instance.setOption(Object.assign(base, option));
  }

  function blank(id, message) {
    draw(id, message, {
      tooltip: { show: false },
      legend: { show: false },
      graphic: [{
        type: 'text', left: 'center', top: 'middle',
        style: {
          text: message, fill: '#4a4a4a', fontFamily: FONT, fontSize: 16, lineHeight: 24, width: 420,
          overflow: 'break', align: 'center',
        },
      }],
    });
  }

  function clearChart(id) {
    if (state.charts.has(id)) state.charts.get(id).clear();
  }

  /* What the section's figures are: exact, or rounded to protect small numbers (the report's `disclosure`). */
  function disclosure(section, body) {
    const how = body && body.disclosure;
    let text = '';
    if (how && how.exact === false) {
      const own = (how.exact_for || []).map(nameOf);
      text = 'Aantallen afgerond op 5 (rounded to 5): elk getal is willekeurig naar beneden of naar boven afgerond '
        + 'en elk totaal is de som van afgeronde getallen. Een 0 kan 0 tot 4 zijn, een 5 kan 1 tot 9. '
        + `Een mediaan of p90 van minder dan ${how.measures_shown_from_clients} cliënten wordt niet getoond.`
        + (['budget', 'matrix'].includes(section) ? ` Cliëntdagen zijn afgerond op ${how.client_days_base}; bedragen volgen uit die dagen.` : '')
        + (own.length ? ` De cijfers van ${own.join(', ')} zijn exact (eigen gemeente).` : '');
    }
    $(`d-${section}`).textContent = text;
  }

  function barSeries(name, values, extra = {}) {
    return Object.assign({ name, type: 'bar', data: values.map(plotted) }, extra);
  }

  // ---- sections --------------------------------------------------------------------------------------------

  const FLOW_COLUMNS = [
    ['registrations', 'Aanmeldingen'],
    ['inflow', 'Instroom (geplaatst)'],
    ['outflow', 'Uitstroom naar woning'],
    ['ended_other', 'Anders beëindigd'],
    ['waiting_at_end', 'Wachtlijst'],
  ];

  function flowsOfMunicipality(body, place, period) {
    const columns = [{ label: 'Maand', month: (r) => r.month }].concat(
      FLOW_COLUMNS.map(([key, label]) => ({
        label: key === 'waiting_at_end' ? 'Wachtlijst eind maand' : label, numeric: true, value: (r) => count(r[key]),
      })),
    );
    const totals = body.totals;
    fillTable('t-flows', `Instroom, uitstroom en wachtlijst per maand, ${place}, ${period}`, columns, body.months, [
      ['Totaal periode (wachtlijst: eind periode)'].concat(FLOW_COLUMNS.map(([key]) => count(totals[key]))),
    ]);
    $('n-flows').textContent = 'Per maand: aanmeldingen, geplaatste cliënten (instroom), uitstroom naar een woning, '
      + 'anders beëindigde plaatsingen, en de wachtlijst op de laatste dag van de maand.';
    const months = body.months.map((r) => monthText(r.month));
    const all = body.months.flatMap((r) => [r.inflow, r.outflow, r.waiting_at_end]);
    draw('c-flows', `Staafdiagram van instroom en uitstroom en lijn van de wachtlijst per maand, ${place}, ${period}.`, {
      xAxis: { type: 'category', data: months },
      yAxis: { type: 'value', minInterval: 1 },
      series: [
        barSeries('Instroom', body.months.map((r) => r.inflow)),
        barSeries('Uitstroom', body.months.map((r) => r.outflow)),
        { name: 'Wachtlijst eind maand', type: 'line', data: body.months.map((r) => plotted(r.waiting_at_end)), symbolSize: 8 },
      ],
    });
  }

  function flowsOfRegion(body, period) {
    const columns = [{ label: 'Gemeente', value: (r) => r.name }].concat(
      FLOW_COLUMNS.map(([key, label]) => ({
        label: key === 'waiting_at_end' ? 'Wachtlijst eind periode' : label, numeric: true, value: (r) => count(r.totals[key]),
      })),
    );
    fillTable('t-flows', `Instroom, uitstroom en wachtlijst per gemeente, regio ${body.region}, ${period}`, columns,
      body.municipalities, [[`Regio ${body.region}`].concat(FLOW_COLUMNS.map(([key]) => count(body.totals[key])))]);
    $('n-flows').textContent = 'Totalen per gemeente over de hele periode; de wachtlijst is die op de laatste dag. '
      + 'Kies een gemeente voor de cijfers per maand.';
    const names = body.municipalities.map((m) => m.name);
    const all = body.municipalities.flatMap((m) => [m.totals.inflow, m.totals.outflow, m.totals.waiting_at_end]);
    draw('c-flows', `Staafdiagram van instroom, uitstroom en wachtlijst per gemeente, ${period}.`, {
      xAxis: { type: 'category', data: names, axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: 'value', minInterval: 1 },
      series: [
        barSeries('Instroom', body.municipalities.map((m) => m.totals.inflow)),
        barSeries('Uitstroom', body.municipalities.map((m) => m.totals.outflow)),
        barSeries('Wachtlijst eind periode', body.municipalities.map((m) => m.totals.waiting_at_end)),
      ],
    });
  }

  function sankey(totals, place, period) {
    const REGISTERED = 'Aangemeld';
    const PLACED = 'Geplaatst';
    const links = [
      { source: REGISTERED, target: PLACED, value: totals.inflow },
      { source: REGISTERED, target: 'Wachtend eind periode', value: totals.waiting_at_end },
      { source: PLACED, target: 'Uitgestroomd naar woning', value: totals.outflow },
      { source: PLACED, target: 'Anders beëindigd', value: totals.ended_other },
    ];
    fillTable('t-sankey', `Stromen in de periode, ${place}, ${period}`, [
      { label: 'Van', value: (l) => l.source },
      { label: 'Naar', value: (l) => l.target },
      { label: 'Aantal', numeric: true, value: (l) => count(l.value) },
    ], links, [['Aanmeldingen in de periode', '', count(totals.registrations)]]);
    const drawn = links.filter((l) => typeof l.value === 'number' && l.value > 0);
    if (!drawn.length) {
      blank('c-sankey', `Geen stromen te tekenen voor ${place}, ${period}.`);
      return;
    }
    const nodes = [...new Set(drawn.flatMap((l) => [l.source, l.target]))]
      .map((name, i) => ({ name, itemStyle: { color: COLOURS[i % COLOURS.length] } }));
    draw('c-sankey', `Stroomdiagram van aanmelding naar plaatsing, uitstroom en andere beëindiging, ${place}, ${period}.`, {
      tooltip: { trigger: 'item' },
      legend: { show: false },
      series: [{
        type: 'sankey', data: nodes, links: drawn, left: 8, right: 160, top: 24, bottom: 24,
        nodeAlign: 'left', emphasis: { focus: 'adjacency' },
        lineStyle: { color: 'gradient', opacity: 0.45 },
        label: { color: '#1b1b1b', fontFamily: FONT },
      }],
    });
  }

  function readyOfMunicipality(body, place, period) {
    fillTable('t-ready', `Klaar voor uitstroom, nog niet gehuisvest, per maand, ${place}, ${period}`, [
      { label: 'Maand', month: (r) => r.month },
      { label: 'Klaar, niet gehuisvest (eind maand)', numeric: true, value: (r) => count(r.ready_not_housed_at_end) },
      { label: 'Mediaan dagen klaar', numeric: true, value: (r) => days(r.ready_not_housed_days_median) },
      // Rule 14: without consent to share no corporation offer is made, so they are shown apart.
      { label: 'Klaar, geen toestemming om te delen', numeric: true, value: (r) => count(r.ready_no_consent_at_end) },
    ], body.months);
    const values = body.months.map((r) => r.ready_not_housed_at_end);
    draw('c-ready', `Lijngrafiek van het aantal cliënten dat klaar is voor uitstroom maar nog niet gehuisvest, per maand, ${place}, ${period}.`, {
      xAxis: { type: 'category', data: body.months.map((r) => monthText(r.month)) },
      yAxis: [{ type: 'value', minInterval: 1, name: 'cliënten' }, { type: 'value', name: 'dagen', splitLine: { show: false } }],
      series: [
        { name: 'Klaar, niet gehuisvest', type: 'line', data: values.map(plotted), symbolSize: 8 },
        { name: 'Mediaan dagen klaar', type: 'line', yAxisIndex: 1, lineStyle: { type: 'dashed' }, symbolSize: 8, data: body.months.map((r) => r.ready_not_housed_days_median) },
      ],
    });
  }

  function readyOfRegion(reports, period) {
    const months = reports.length ? reports[0].body.months.map((r) => r.month) : [];
    const byMonth = months.map((month, i) => ({ month, values: reports.map((r) => r.body.months[i].ready_not_housed_at_end) }));
    fillTable('t-ready', `Klaar voor uitstroom, nog niet gehuisvest (eind maand), per gemeente, ${period}`,
      [{ label: 'Maand', month: (r) => r.month }].concat(reports.map((r, j) => ({
        label: r.name, numeric: true, value: (row) => count(row.values[j]),
      }))), byMonth);
    const all = byMonth.flatMap((r) => r.values);
    draw('c-ready', `Lijngrafiek per gemeente van het aantal cliënten dat klaar is voor uitstroom maar nog niet gehuisvest, per maand, ${period}.`, {
      xAxis: { type: 'category', data: months.map(monthText) },
      yAxis: { type: 'value', minInterval: 1 },
      series: reports.map((r, j) => ({ name: r.name, type: 'line', symbolSize: 7, data: byMonth.map((m) => plotted(m.values[j])) })),
    });
  }

  function occupancy(body, code, place) {
    const facilities = body.facilities.filter((f) => !code || f.municipality === code);
    const on = dayText(body.on);
    fillTable('t-occupancy', `Bezetting per voorziening op ${on}, ${place}`, [
      { label: 'Voorziening', value: (f) => f.facility_id },
      { label: 'Gemeente', value: (f) => nameOf(f.municipality) },
      { label: 'Wijk', value: (f) => f.wijk || '–' },
      { label: 'Zorgvorm', value: (f) => careForm(f.care_form) },
      { label: 'Plaatsen', numeric: true, value: (f) => count(f.capacity) },
      { label: 'Bezet', numeric: true, value: (f) => count(f.occupied) },
    ], facilities);
    $('n-occupancy').textContent = `Plaatsen (de laatst geregistreerde capaciteit) en bezette plaatsen op ${on}, de laatste dag van de periode.`;
    $('w-careforms').hidden = Boolean(code);
    if (code) {
      emptyTable('t-careforms');
    } else {
      fillTable('t-careforms', `Bezetting per zorgvorm in de regio op ${on}`, [
        { label: 'Zorgvorm', value: (f) => careForm(f.care_form) },
        { label: 'Plaatsen', numeric: true, value: (f) => count(f.capacity) },
        { label: 'Bezet', numeric: true, value: (f) => count(f.occupied) },
      ], body.care_forms);
    }
    if (!facilities.length) {
      blank('c-occupancy', `Geen voorzieningen in ${place}.`);
      return;
    }
    draw('c-occupancy', `Staafdiagram van plaatsen en bezette plaatsen per voorziening op ${on}, ${place}.`, {
      xAxis: { type: 'category', data: facilities.map((f) => f.facility_id), axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: 'value', minInterval: 1 },
      series: [barSeries('Plaatsen', facilities.map((f) => f.capacity)), barSeries('Bezet', facilities.map((f) => f.occupied))],
    });
  }

  function matrix(body, code, place, period) {
    const cells = body.cells.filter((c) => !code || c.responsible === code || c.facility_municipality === code);
    fillTable('t-matrix', `Cliënten per verantwoordelijke gemeente en gemeente van de voorziening, ${place}, ${period}`, [
      { label: 'Verantwoordelijke gemeente', value: (c) => nameOf(c.responsible) },
      { label: 'Gemeente van de voorziening', value: (c) => nameOf(c.facility_municipality) },
      { label: 'Cliënten', numeric: true, value: (c) => count(c.clients) },
    ], cells);
    if (!cells.length) {
      blank('c-matrix', `Geen plaatsingen begonnen in ${place}, ${period}.`);
      return;
    }
    const axis = state.order.slice();
    cells.forEach((c) => [c.responsible, c.facility_municipality].forEach((m) => { if (!axis.includes(m)) axis.push(m); }));
    const numbers = cells.map((c) => c.clients).filter((v) => typeof v === 'number');
    const pieces = [];
    if (numbers.length) {
      const low = Math.min(...numbers);
      const high = Math.max(...numbers);
      const step = Math.max(1, Math.ceil((high - low + 1) / 3));
      const blues = ['#9cc3e6', '#4a8fcf', '#0b4f8a'];
      for (let i = 0, from = low; from <= high; i += 1, from += step) {
        pieces.push({ min: from, max: Math.min(high, from + step - 1), color: blues[Math.min(i, blues.length - 1)] });
      }
    }
    const data = cells.map((c) => {
      const value = typeof c.clients === 'number' ? c.clients : -1;
      const dark = value >= 0 && numbers.length && value > (Math.min(...numbers) + Math.max(...numbers)) / 2;
      return {
        value: [axis.indexOf(c.facility_municipality), axis.indexOf(c.responsible), value],
        shownText: count(c.clients),
        label: { color: dark ? '#ffffff' : '#1b1b1b' },
      };
    });
    draw('c-matrix', `Warmtekaart van cliënten per verantwoordelijke gemeente (rijen) en gemeente van de voorziening (kolommen), ${place}, ${period}.`, {
      tooltip: { trigger: 'item', formatter: (p) => `${nameOf(axis[p.value[1]])} → ${nameOf(axis[p.value[0]])}: ${p.data.shownText}` },
      legend: { show: false },
      grid: {
        left: 8, right: 24, top: 16, bottom: 64, outerBoundsMode: 'same', outerBoundsContain: 'axisLabel',
        outerBoundsClampWidth: '45%', outerBoundsClampHeight: '45%',
      },
      xAxis: { type: 'category', data: axis.map(nameOf), name: 'voorziening in', nameLocation: 'middle', nameGap: 56, axisLabel: { interval: 0, rotate: 30 }, splitArea: { show: true } },
      yAxis: { type: 'category', data: axis.map(nameOf), name: 'verantwoordelijk', splitArea: { show: true } },
      visualMap: { type: 'piecewise', pieces, orient: 'horizontal', left: 'center', bottom: 0, textStyle: { color: '#1b1b1b' } },
      series: [{ type: 'heatmap', data, label: { show: true, formatter: (p) => p.data.shownText, fontFamily: FONT }, itemStyle: { borderColor: '#ffffff', borderWidth: 2 } }],
    });
  }

  function wijken(body, code, place, period) {
    const rows = body.wijken.filter((w) => !code || w.municipality === code);
    fillTable('t-wijken', `Wijken tegen hun plafonds, ${place}, uitstroom tot en met ${monthText(body.to)}`, [
      { label: 'Wijk', value: (w) => w.wijk },
      { label: 'Gemeente', value: (w) => nameOf(w.municipality) },
      { label: 'Plaatsen', numeric: true, value: (w) => count(w.places) },
      { label: 'Plafond plaatsen', numeric: true, value: (w) => count(w.place_cap) },
      { label: 'Uitstroomwoningen', numeric: true, value: (w) => count(w.outflow_homes) },
      { label: 'Plafond uitstroomwoningen', numeric: true, value: (w) => count(w.outflow_home_cap) },
    ], rows);
    $('n-wijken').textContent = 'Plaatsen in voorzieningen nu, en woningen waarnaar cliënten tot het eind van de periode '
      + 'uitstroomden, per CBS-wijk, tegen de plafonds die de regio per wijk stelt.';
    if (!rows.length) {
      blank('c-wijken', `Geen wijken met plaatsen of uitstroomwoningen in ${place}.`);
      return;
    }
    const cap = (name, values, colour) => ({
      name, type: 'scatter', symbol: 'rect', symbolSize: [28, 5], itemStyle: { color: colour }, data: values.map(plotted), z: 3,
    });
    draw('c-wijken', `Staafdiagram per wijk van plaatsen en uitstroomwoningen, met hun plafonds als streep, ${place}.`, {
      xAxis: { type: 'category', data: rows.map((w) => w.wijk), axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: 'value', minInterval: 1 },
      series: [
        barSeries('Plaatsen', rows.map((w) => w.places), { barGap: '40%', itemStyle: { color: COLOURS[0] } }),
        cap('Plafond plaatsen', rows.map((w) => w.place_cap), '#1b1b1b'),
        barSeries('Uitstroomwoningen', rows.map((w) => w.outflow_homes), { itemStyle: { color: COLOURS[2] } }),
        cap('Plafond uitstroomwoningen', rows.map((w) => w.outflow_home_cap), COLOURS[1]),
      ],
    });
  }

  function housing(body, code, place, period) {
    const rows = body.offers.filter((o) => !code || o.municipality === code);
    const OUTCOMES = [['accepted', 'Geaccepteerd'], ['declined', 'Afgewezen'], ['lapsed', 'Verlopen'], ['open', 'Open'], ['voided', 'Vervallen']];
    fillTable('t-housing', `Aanbiedingen en quotumgebruik, ${place}, ${period}`, [
      { label: 'Corporatie', value: (o) => o.corporation_id },
      { label: 'Gemeente', value: (o) => nameOf(o.municipality) },
      { label: 'Quotumjaar', value: (o) => String(o.quota_year) },
      { label: 'Quotum (woningen)', numeric: true, value: (o) => count(o.quota) },
      { label: 'Aanbiedingen', numeric: true, value: (o) => count(o.offers_made) },
      { label: 'Geaccepteerd (quotumgebruik)', numeric: true, value: (o) => count(o.accepted) },
      { label: 'Afgewezen', numeric: true, value: (o) => count(o.declined) },
      { label: 'Verlopen', numeric: true, value: (o) => count(o.lapsed) },
      { label: 'Open', numeric: true, value: (o) => count(o.open) },
      { label: 'Vervallen', numeric: true, value: (o) => count(o.voided) },
      { label: 'Quotum over', numeric: true, value: (o) => count(o.quota_left) },
    ], rows);
    if (!rows.length) {
      blank('c-housing', `Geen aanbiedingen in ${place}, ${period}.`);
      return;
    }
    const labels = rows.map((o) => `${o.corporation_id}, ${nameOf(o.municipality)} (${o.quota_year})`);
    draw('c-housing', `Gestapeld staafdiagram van aanbiedingen per corporatie, gemeente en quotumjaar naar uitkomst, ${place}, ${period}.`, {
      yAxis: { type: 'category', data: labels, axisLabel: { width: 220, overflow: 'break' } },
      xAxis: { type: 'value', minInterval: 1 },
      series: OUTCOMES.map(([key, label]) => barSeries(label, rows.map((o) => o[key]), { stack: 'uitkomst' })),
    });
  }

  // Which money figures are real and which are not: the region's data says whether they are illustrative,
  // up to which day cost is realised, from which day it is a projection, and who bears MO cost.
  function moneyNote(doc) {
    const parts = [];
    if (doc.illustrative) {
      parts.push('Illustratief: tarieven, landelijk budget en aandelen zijn verzonnen om het model te tonen, geen echte bedragen.');
    }
    if (doc.realised_up_to) {
      parts.push(`Kosten tot ${doc.realised_up_to} zijn gerealiseerd; open plaatsingen daarna zijn een projectie tot ${doc.projected_to}.`);
    }
    if (doc.mo_funding === 'centre_municipality') parts.push('De centrumgemeente draagt de kosten van maatschappelijke opvang in de verevening.');
    if ((doc.responsible_elsewhere || []).length) {
      const recover = doc.responsible_elsewhere.map((r) => `${r.name} ${money(r.cost_eur)}`).join(', ');
      parts.push(`Te verhalen op gemeenten buiten de regio: ${recover}.`);
    }
    document.getElementById('n-budget').textContent = parts.join(' ');
  }

  function budget(rows, totals, place, year, doc) {
    moneyNote(doc || {});
    const columns = [
      { label: 'Gemeente', value: (r) => nameOf(r.municipality) },
      { label: 'Aandeel', numeric: true, value: (r) => share(r.share) },
      { label: 'Budget', numeric: true, value: (r) => money(r.budget_eur) },
      { label: 'Kosten', numeric: true, value: (r) => money(r.cost_eur) },
      { label: 'Saldo', numeric: true, value: (r) => money(r.balance_eur) },
      { label: 'Verevening', numeric: true, value: (r) => money(r.settlement_eur) },
    ];
    const foot = totals
      ? [['Regio', '–', money(totals.budget_eur), money(totals.cost_eur), '–', money(totals.settlement_eur)]]
      : [];
    fillTable('t-budget', `Budget, kosten en verevening ${year}, ${place}`, columns, rows, foot);
    if (!rows.length) {
      blank('c-budget', `Geen budget voor ${place} in ${year}.`);
      return;
    }
    draw('c-budget', `Staafdiagram van budget, kosten en verevening per gemeente in ${year}, ${place}.`, {
      tooltip: { trigger: 'axis', confine: true, valueFormatter: (v) => money(v) },
      xAxis: { type: 'category', data: rows.map((r) => nameOf(r.municipality)), axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: 'value', axisLabel: { formatter: (v) => `€ ${euroShort.format(v)}` } },
      series: [
        barSeries('Budget', rows.map((r) => r.budget_eur)),
        barSeries('Kosten', rows.map((r) => r.cost_eur)),
        barSeries('Verevening', rows.map((r) => r.settlement_eur)),
      ],
    });
  }

  // ---- loading ---------------------------------------------------------------------------------------------

  const SECTIONS = {
    flows: ['Instroom, uitstroom en wachtlijst', 'c-flows', ['t-flows']],
    sankey: ['Van aanmelding naar plaatsing en uitstroom', 'c-sankey', ['t-sankey']],
    ready: ['Klaar voor uitstroom', 'c-ready', ['t-ready']],
    occupancy: ['Bezetting', 'c-occupancy', ['t-occupancy', 't-careforms']],
    matrix: ['Regionale solidariteit', 'c-matrix', ['t-matrix']],
    wijken: ['Wijken', 'c-wijken', ['t-wijken']],
    housing: ['Woningaanbod', 'c-housing', ['t-housing']],
    budget: ['Budget', 'c-budget', ['t-budget']],
  };

  function failed(section, error) {
    const [title, chartId, tables] = SECTIONS[section];
    const text = reportError(title, error);
    $(`e-${section}`).textContent = `Niet geladen: ${text}`;
    $(`d-${section}`).textContent = '';
    tables.forEach(emptyTable);
    clearChart(chartId);
    if (error instanceof ApiError && error.status === 401) refused();
  }

  async function part(section, work) {
    try {
      await work();
    } catch (error) {
      failed(section, error);
    }
  }

  function readControls() {
    const values = { scope: $('scope').value, from: $('from').value, to: $('to').value, year: $('year').value.trim() };
    const problems = [];
    ['from', 'to', 'year'].forEach((id) => $(id).removeAttribute('aria-invalid'));
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(values.from)) problems.push(['from', 'Vul bij “Van maand” een maand in als JJJJ-MM.']);
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(values.to)) problems.push(['to', 'Vul bij “Tot en met maand” een maand in als JJJJ-MM.']);
    if (!problems.length && values.to < values.from) problems.push(['to', '“Tot en met maand” ligt vóór “Van maand”.']);
    if (!/^\d{4}$/.test(values.year)) problems.push(['year', 'Vul bij “Begrotingsjaar” een jaar in, bijvoorbeeld 2027.']);
    problems.forEach(([id, text]) => { $(id).setAttribute('aria-invalid', 'true'); reportError('', text); });
    if (problems.length) $(problems[0][0]).focus();
    return problems.length ? null : values;
  }

  async function loadMunicipalities() {
    const body = await api(`/v1/region/flows?from=${encodeURIComponent($('from').value || '2000-01')}&to=${encodeURIComponent($('from').value || '2000-01')}`);
    state.region = body.region;
    state.names = new Map(body.municipalities.map((m) => [m.municipality, m.name]));
    state.order = body.municipalities.map((m) => m.municipality);
    const select = $('scope');
    const chosen = select.value || new URLSearchParams(window.location.search).get('gebied') || state.home || '';
    const region = document.createElement('option');
    region.value = '';
    region.textContent = `Hele regio (${body.region})`;
    const options = body.municipalities.map((m) => {
      const option = document.createElement('option');
      option.value = m.municipality;
      option.textContent = m.name;
      return option;
    });
    select.replaceChildren(region, ...options);
    select.value = state.names.has(chosen) ? chosen : '';
  }

  async function refresh() {
    clearMessages();
    if (!state.token) {
      $('status').textContent = state.login ? 'Log eerst in.' : 'Meld u eerst aan met uw toegangstoken.';
      return;
    }
    const controls = readControls();
    if (!controls) return;
    const generation = ++state.generation;
    document.documentElement.dataset.state = 'loading';
    $('inhoud').setAttribute('aria-busy', 'true');
    $('status').textContent = 'Cijfers worden geladen…';
    const { scope: code, from, to, year } = controls;
    const search = new URLSearchParams({ from, to, year });
    if (code) search.set('gebied', code);
    window.history.replaceState(null, '', `${window.location.pathname}?${search}`);
    const period = `${monthText(from)} tot en met ${monthText(to)}`;
    const months = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    const place = code ? nameOf(code) : `regio ${state.region || ''}`.trim();
    const current = () => generation === state.generation;

    const tasks = [];
    if (code) {
      const flows = api(`/v1/municipalities/${encodeURIComponent(code)}/flows?${months}`);
      tasks.push(part('flows', async () => { const b = await flows; if (current()) { disclosure('flows', b); flowsOfMunicipality(b, place, period); } }));
      tasks.push(part('sankey', async () => { const b = await flows; if (current()) { disclosure('sankey', b); sankey(b.totals, place, period); } }));
      tasks.push(part('ready', async () => { const b = await flows; if (current()) { disclosure('ready', b); readyOfMunicipality(b, place, period); } }));
      tasks.push(part('budget', async () => {
        const b = await api(`/v1/municipalities/${encodeURIComponent(code)}/budget?year=${encodeURIComponent(year)}`);
        if (current()) { disclosure('budget', b); budget([b], null, place, year, b); }
      }));
    } else {
      const flows = api(`/v1/region/flows?${months}`);
      tasks.push(part('flows', async () => { const b = await flows; if (current()) { disclosure('flows', b); flowsOfRegion(b, period); } }));
      tasks.push(part('sankey', async () => { const b = await flows; if (current()) { disclosure('sankey', b); sankey(b.totals, place, period); } }));
      tasks.push(part('ready', async () => {
        const reports = await Promise.all(state.order.map(async (m) => ({
          name: nameOf(m), body: await api(`/v1/municipalities/${encodeURIComponent(m)}/flows?${months}`),
        })));
        if (current()) { disclosure('ready', (reports.find((r) => !r.body.disclosure.exact) || {}).body); readyOfRegion(reports, period); }
      }));
      tasks.push(part('budget', async () => {
        const b = await api(`/v1/region/budget?year=${encodeURIComponent(year)}`);
        if (current()) { disclosure('budget', b); budget(b.municipalities, b.totals, place, year, b); }
      }));
    }
    tasks.push(part('occupancy', async () => { const b = await api(`/v1/region/occupancy?${months}`); if (current()) { disclosure('occupancy', b); occupancy(b, code, place); } }));
    tasks.push(part('matrix', async () => { const b = await api(`/v1/region/matrix?${months}`); if (current()) { disclosure('matrix', b); matrix(b, code, place, period); } }));
    tasks.push(part('wijken', async () => { const b = await api(`/v1/region/wijken?${months}`); if (current()) { disclosure('wijken', b); wijken(b, code, place, period); } }));
    tasks.push(part('housing', async () => { const b = await api(`/v1/region/housing?${months}`); if (current()) { disclosure('housing', b); housing(b, code, place, period); } }));
    await Promise.all(tasks);
    if (!current()) return;
    $('inhoud').removeAttribute('aria-busy');
    const failures = $('errors').childElementCount;
    $('status').textContent = `Cijfers van ${place}, ${period}; begrotingsjaar ${year}.`
      + (failures ? ` ${failures} ${failures === 1 ? 'onderdeel' : 'onderdelen'} niet geladen; zie de meldingen.` : '');
    document.documentElement.dataset.state = 'ready';
    document.documentElement.dataset.loads = String(Number(document.documentElement.dataset.loads || 0) + 1);
  }

  // ---- signing in and out ----------------------------------------------------------------------------------

  function signedIn() {
    $('signin-state').textContent = 'Aangemeld. Uw token staat alleen in deze browsersessie.';
    $('signout').disabled = false;
  }

  function signedOut(message) {
    state.token = null;
    state.generation += 1;
    sessionStorage.removeItem(TOKEN_KEY);
    $('signin-state').textContent = message;
    $('signout').disabled = true;
    Object.values(SECTIONS).forEach(([, chartId, tables]) => { tables.forEach(emptyTable); clearChart(chartId); });
    document.documentElement.dataset.state = 'idle';
    $('inhoud').removeAttribute('aria-busy');
  }

  /* The service refused the token (401): a pasted one is forgotten, a person logs in again. */
  function refused() {
    if (state.login) {
      state.login.forget('Uw inlog werd niet (meer) geaccepteerd; log opnieuw in.');
    } else {
      signedOut('Het token werd niet geaccepteerd; meld u opnieuw aan.');
    }
  }

  async function start() {
    clearMessages();
    try {
      await loadMunicipalities();
    } catch (error) {
      reportError('Aanmelden', error);
      if (error instanceof ApiError && error.status === 401) refused();
      return;
    }
    await refresh();
  }

  function setDefaults() {
    const query = new URLSearchParams(window.location.search);
    const now = new Date();
    const year = now.getFullYear();
    // The twelve months that end with the current one: the latest month with data is in view at once.
    const first = new Date(year, now.getMonth() - 11, 1);
    const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
    const month = (text) => (/^\d{4}-(0[1-9]|1[0-2])$/.test(text || '') ? text : null);
    $('from').value = month(query.get('from')) || iso(first);
    $('to').value = month(query.get('to')) || iso(now);
    $('year').value = /^\d{4}$/.test(query.get('year') || '') ? query.get('year') : String(year);
  }

  /* Today's way in: a bearer token pasted into the form, kept in sessionStorage until "Afmelden". Bound at
     once (a submit before the page knows its way in must never reach the form's own action). */
  function bindTokenForm() {
    $('signin-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const token = $('token').value.trim();
      $('token').value = '';
      if (!token) {
        clearMessages();
        $('token').setAttribute('aria-invalid', 'true');
        reportError('Aanmelden', 'Plak eerst uw toegangstoken in het veld.');
        $('token').focus();
        return;
      }
      $('token').removeAttribute('aria-invalid');
      state.token = token;
      sessionStorage.setItem(TOKEN_KEY, token);
      signedIn();
      start();
    });
    $('signout').addEventListener('click', () => {
      clearMessages();
      signedOut('Afgemeld. Uw token is uit deze browsersessie gewist.');
      $('token').focus();
    });
  }

  function initTokenForm() {
    $('token-panel').hidden = false;
    state.token = sessionStorage.getItem(TOKEN_KEY);
    if (state.token) {
      signedIn();
      start();
    } else {
      $('signout').disabled = true;
    }
  }

  // ---- a person's login (OpenID Connect) -------------------------------------------------------------------

  const CHANNEL = 'zorgstroom.oidc'; // the dashboard's tabs tell each other of a logout and of a person's input
  const NOTICE_KEY = 'zorgstroom.reporting.notice'; // what to say after the issuer's logout brings the page back
  const INPUT_EVENTS = ['keydown', 'pointerdown', 'wheel', 'touchstart'];
  const ORGANISATION_KINDS = { region: 'regio', municipality: 'gemeente', provider: 'zorgaanbieder', corporation: 'woningcorporatie' };

  /* Where the service says people log in, or null: then the token form (no issuer configured). */
  async function loginConfig() {
    try {
      const response = await fetch('/dashboard/config.json', { credentials: 'omit', cache: 'no-store', redirect: 'error' });
      const body = response.ok ? await response.json() : null;
      return body && body.oidc && body.oidc.issuer && body.oidc.client_id ? body.oidc : null;
    } catch (error) {
      return null;
    }
  }

  function organisationText(profile) {
    const kind = profile.zs_org_kind;
    const id = profile.zs_org_id;
    if (!kind || !id) return '';
    return `, ${ORGANISATION_KINDS[kind] || kind} ${kind === 'municipality' ? nameOf(id) : id}`;
  }

  /* The login by oidc-client-ts: authorization code with PKCE (S256) at the issuer, the page itself as the
     redirect URI; the user, its tokens and the login's state (the PKCE verifier) in sessionStorage only;
     renewal with the refresh token a minute before the access token expires (a fetch to the token endpoint:
     no iframe, which the CSP would refuse), but only while the person uses the page: after the idle window
     (config.json's idle_seconds) without input in any of the dashboard's tabs, the page logs out instead, so
     an unattended screen does not keep the session alive by its own renewals. Logout is at the issuer's
     end_session_endpoint, and the other tabs forget their tokens at once. */
  class Login {
    constructor(config) {
      const home = `${window.location.origin}/`;
      const store = new oidc.WebStorageStateStore({ store: window.sessionStorage, prefix: 'zorgstroom.oidc.' });
      this.issuer = config.issuer;
      this.idleMs = (Number(config.idle_seconds) || 1800) * 1000;
      this.lastInput = Date.now();
      this.renewing = null;
      this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;
      this.manager = new oidc.UserManager({
        authority: config.issuer,
        client_id: config.client_id,
        redirect_uri: home,
        post_logout_redirect_uri: home,
        response_type: 'code',
        scope: 'openid profile',
        userStore: store,
        stateStore: store,
        automaticSilentRenew: false, // renewed by expiring() below, only while the person is there
        accessTokenExpiringNotificationTimeInSeconds: 60,
        monitorSession: false,
        loadUserInfo: false,
        fetchRequestCredentials: 'omit',
      });
      this.manager.events.addUserLoaded((user) => this.use(user)); // a renewal: the new access token from now on
      this.manager.events.addAccessTokenExpiring(() => this.expiring());
      this.manager.events.addAccessTokenExpired(() => this.expired());
      this.watchInput();
    }

    /* A keystroke, click, scroll or touch anywhere in the page; told to the other tabs at most once a minute. */
    watchInput() {
      let told = 0;
      const seen = () => {
        this.lastInput = Date.now();
        if (this.channel && this.lastInput - told >= 60000) {
          told = this.lastInput;
          this.channel.postMessage({ kind: 'input', at: this.lastInput });
        }
      };
      INPUT_EVENTS.forEach((name) => window.addEventListener(name, seen, { capture: true, passive: true }));
      if (this.channel) this.channel.addEventListener('message', (event) => this.heard(event.data || {}));
    }

    heard(message) {
      if (message.kind === 'input' && Number(message.at) > this.lastInput) {
        this.lastInput = Math.min(Number(message.at), Date.now());
      } else if (message.kind === 'logout' && state.token) {
        this.forget('U bent uitgelogd in een ander tabblad van het dashboard.');
      }
    }

    idle() {
      return Date.now() - this.lastInput >= this.idleMs;
    }

    /* A minute before the access token expires: renewed when the person did something within the idle
       window, else logged out here and at the issuer. */
    expiring() {
      if (this.idle()) {
        this.idleOut();
      } else {
        this.renew();
      }
    }

    /* Expired: a renewal under way settles it (it may answer just after the expiry); otherwise as above,
       e.g. a computer waking from sleep with the page open. */
    expired() {
      if (!this.renewing) this.expiring();
    }

    renew() {
      if (!this.renewing) {
        this.renewing = this.manager.signinSilent() // the refresh token; its answer arrives as addUserLoaded
          .catch(() => this.forget('Uw sessie kon niet worden verlengd; log opnieuw in.'))
          .finally(() => { this.renewing = null; });
      }
      return this.renewing;
    }

    async idleOut() {
      if (!state.token) return; // once: the expiring and the expired event may both find the page idle
      const minutes = Math.round(this.idleMs / 60000);
      sessionStorage.setItem(NOTICE_KEY, `U bent uitgelogd omdat u ${minutes} minuten niets op het dashboard deed; log opnieuw in.`);
      await this.logout();
    }

    /* Back from the issuer: a login's answer (?code= or ?error=, with state) or a logout's (?state= alone).
       Either way the URL loses them at once, and gets back the choice the person had made before. */
    async answer() {
      const query = new URLSearchParams(window.location.search);
      if (!query.has('state')) return;
      let before = '';
      try {
        if (query.has('code') || query.has('error')) {
          const user = await this.manager.signinRedirectCallback();
          before = typeof user.state === 'string' && user.state.startsWith('?') ? user.state : '';
        } else {
          await this.manager.signoutRedirectCallback();
        }
      } catch (error) {
        reportError('Inloggen', error instanceof Error && error.message ? error.message : String(error));
      }
      window.history.replaceState(null, '', `${window.location.pathname}${before}`);
    }

    /* The person kept in this tab's session, renewed first if its access token expired meanwhile. */
    async current() {
      let user = await this.manager.getUser();
      if (user && user.expired) {
        try {
          user = await this.manager.signinSilent();
        } catch (error) {
          await this.manager.removeUser();
          user = null;
        }
      }
      return user;
    }

    use(user) {
      state.token = user.access_token;
      const profile = user.profile || {};
      state.home = profile.zs_org_kind === 'municipality' ? profile.zs_org_id : null;
      this.profile = profile;
      this.show();
    }

    show() {
      const profile = this.profile || {};
      $('who-name').textContent = profile.preferred_username || profile.name || profile.sub || '';
      $('who-org').textContent = organisationText(profile);
      $('who').hidden = false;
      $('login').hidden = true;
      $('signin-state').textContent = `Ingelogd als ${$('who-name').textContent}${$('who-org').textContent}.`;
    }

    async login() {
      clearMessages();
      $('login').disabled = true;
      try {
        await this.manager.signinRedirect({ state: window.location.search });
      } catch (error) {
        $('login').disabled = false;
        reportError('Inloggen', `De identiteitsdienst is niet bereikbaar (${error instanceof Error ? error.message : error}).`);
      }
    }

    /* Ends the session at the issuer (id_token_hint, back to this page); the tokens are gone before it. */
    async logout() {
      clearMessages();
      state.token = null;
      signedOut('Uitloggen…');
      if (this.channel) this.channel.postMessage({ kind: 'logout' });
      try {
        await this.manager.signoutRedirect();
      } catch (error) {
        await this.forget('Uitgelogd op deze pagina; de identiteitsdienst kon de sessie niet beëindigen.');
      }
    }

    async forget(message) {
      await this.manager.removeUser();
      this.loggedOut(message);
    }

    loggedOut(message) {
      this.profile = null;
      state.home = null;
      signedOut(message);
      $('who').hidden = true;
      $('login').hidden = false;
      $('login').disabled = false;
    }
  }

  async function initLogin(config) {
    const login = new Login(config);
    state.login = login;
    $('token-panel').hidden = true;
    $('login').hidden = true; // until the page knows nobody is logged in here
    $('login-panel').hidden = false;
    $('login-issuer').textContent = config.issuer;
    $('login-idle').textContent = String(Math.round(login.idleMs / 60000));
    $('login').addEventListener('click', () => login.login());
    $('logout').addEventListener('click', () => login.logout());
    await login.answer();
    setDefaults(); // after the answer: the choice made before the login is back in the URL
    const user = await login.current();
    const notice = sessionStorage.getItem(NOTICE_KEY);
    sessionStorage.removeItem(NOTICE_KEY);
    if (!user) {
      login.loggedOut(notice || 'Niet ingelogd.');
      return;
    }
    login.use(user);
    await start();
    login.show(); // the municipality's name is known now
  }

  async function init() {
    setDefaults();
    bindTokenForm();
    $('controls').addEventListener('submit', (event) => {
      event.preventDefault();
      refresh();
    });
    window.addEventListener('resize', () => state.charts.forEach((c) => c.resize()));
    const config = await loginConfig();
    if (config && typeof oidc !== 'undefined') {
      await initLogin(config);
    } else {
      if (config) reportError('Inloggen', 'De inlogbibliotheek kon niet worden geladen.');
      initTokenForm();
    }
  }

  if (typeof echarts === 'undefined') {
    document.addEventListener('DOMContentLoaded', () => reportError('', 'De grafiekbibliotheek kon niet worden geladen.'));
  } else if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
