// The ladder page's script (src/ladder/html.rs puts it in the page): zoom and pan the time
// axis, show a clicked arrow's details. No library, no network: the page works offline.
//
// Everything the SVG places in time carries that time in seconds: data-t (with data-dy, an
// offset in pixels, for a text; data-x for a group moved by a transform), or data-t1 and data-t2
// for a line's ends. The one thing this script changes is the map from time to pixels,
//   y = top + (t - t0) * scale,
// the map src/ladder/svg.rs drew with (Layout::y), so zooming moves every mark with its time.
(function () {
  'use strict';

  var svg = document.getElementById('ladder');
  var view = document.getElementById('view');
  var details = document.getElementById('details');
  var top = Number(svg.dataset.top);
  var bottomMargin = Number(svg.dataset.bottomMargin);
  var tStart = Number(svg.dataset.tStart);
  var tEnd = Number(svg.dataset.tEnd);
  var labelSpacing = Number(svg.dataset.labelSpacing);
  var axisX = Number(svg.dataset.axisX);
  var width = Number(svg.getAttribute('width'));
  var svgNamespace = 'http://www.w3.org/2000/svg';

  var lines = svg.querySelectorAll('#datagrams line[data-t1]');
  var texts = svg.querySelectorAll('#datagrams text[data-t], #labels text[data-t]');
  var groups = svg.querySelectorAll('#datagrams g[data-t], #timers g[data-t]');
  var labels = svg.querySelectorAll('#labels text.label');
  var hostLines = svg.querySelectorAll('#hosts .host-line');
  var ticks = svg.getElementById('ticks');
  var clip = svg.getElementById('plot-area-rect');
  var arrows = svg.querySelectorAll('#datagrams g.datagram');

  var state = { t0: tStart, scale: Number(svg.dataset.pixelsPerSecond) };
  var height = 0;

  function y(t) {
    return top + (t - state.t0) * state.scale;
  }

  function fitScale() {
    return (height - top - bottomMargin) / Math.max(tEnd - tStart, 1e-6);
  }

  // The step between ticks: 1, 2 or 5 times a power of ten, at least minSeconds (svg.rs's
  // tick_step).
  function tickStep(minSeconds) {
    var power = Math.pow(10, Math.floor(Math.log10(minSeconds)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= minSeconds) {
        return steps[i] * power;
      }
    }
    return 10 * power;
  }

  function drawTicks() {
    while (ticks.firstChild) {
      ticks.removeChild(ticks.firstChild);
    }
    var step = tickStep(80 / state.scale);
    var decimals = Math.min(9, Math.max(0, -Math.floor(Math.log10(step))));
    var bottom = state.t0 + (height - top) / state.scale;
    var first = Math.ceil(state.t0 / step);
    var last = Math.min(Math.floor(bottom / step), first + 200);
    for (var n = first; n <= last; n++) {
      var t = n * step;
      var line = document.createElementNS(svgNamespace, 'line');
      line.setAttribute('class', 'grid');
      line.setAttribute('x1', axisX);
      line.setAttribute('x2', width);
      line.setAttribute('y1', y(t));
      line.setAttribute('y2', y(t));
      ticks.appendChild(line);
      var text = document.createElementNS(svgNamespace, 'text');
      text.setAttribute('class', 'tick');
      text.setAttribute('x', axisX);
      text.setAttribute('y', y(t) + 4);
      text.setAttribute('text-anchor', 'end');
      text.textContent = t.toFixed(decimals) + ' s';
      ticks.appendChild(text);
    }
  }

  // Show each label unless it would overprint the previous one shown in its column (the same
  // sender and direction), as svg.rs does for the first drawing.
  function thinLabels() {
    var lastShown = {};
    for (var i = 0; i < labels.length; i++) {
      var label = labels[i];
      var labelY = Number(label.getAttribute('y'));
      var column = label.dataset.col;
      var visible = labelY > top - 20 && labelY < height + 20 &&
        (!(column in lastShown) || labelY - lastShown[column] >= labelSpacing);
      if (visible) {
        lastShown[column] = labelY;
      }
      label.setAttribute('visibility', visible ? 'visible' : 'hidden');
    }
  }

  function render() {
    height = Math.max(view.clientHeight, top + bottomMargin + 100);
    svg.setAttribute('height', height);
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    clip.setAttribute('height', height - Number(clip.getAttribute('y')));
    for (var h = 0; h < hostLines.length; h++) {
      hostLines[h].setAttribute('y2', height - bottomMargin);
    }
    for (var i = 0; i < lines.length; i++) {
      lines[i].setAttribute('y1', y(Number(lines[i].dataset.t1)));
      lines[i].setAttribute('y2', y(Number(lines[i].dataset.t2)));
    }
    for (var j = 0; j < texts.length; j++) {
      var dy = Number(texts[j].dataset.dy || 0);
      texts[j].setAttribute('y', y(Number(texts[j].dataset.t)) + dy);
    }
    for (var k = 0; k < groups.length; k++) {
      var group = groups[k];
      group.setAttribute('transform',
        'translate(' + group.dataset.x + ' ' + y(Number(group.dataset.t)) + ')');
    }
    drawTicks();
    thinLabels();
  }

  var pending = false;
  function update() {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        render();
      });
    }
  }

  // Zoom by `factor` keeping the time at pixel `atY` where it is.
  function zoom(factor, atY) {
    var fit = fitScale();
    var scale = Math.min(Math.max(state.scale * factor, fit / 4), 1e9);
    var t = state.t0 + (atY - top) / state.scale;
    state.scale = scale;
    state.t0 = t - (atY - top) / scale;
    pan(0);
  }

  // Move the time axis by `pixels` (positive: later times come up), within the window.
  function pan(pixels) {
    var span = (height - top - bottomMargin) / state.scale;
    state.t0 = Math.min(Math.max(state.t0 + pixels / state.scale, tStart - span / 2),
      tEnd - span / 2);
    update();
  }

  function fit() {
    height = Math.max(view.clientHeight, top + bottomMargin + 100);
    state.scale = fitScale();
    state.t0 = tStart;
    update();
  }

  function middle() {
    return top + (height - top) / 2;
  }

  function select(element) {
    var previous = svg.querySelector('.selected');
    if (previous) {
      previous.classList.remove('selected');
    }
    element.classList.add('selected');
    var title = element.querySelector('title');
    details.textContent = title ? title.textContent : '';
  }

  view.addEventListener('wheel', function (event) {
    event.preventDefault();
    var atY = event.clientY - svg.getBoundingClientRect().top;
    zoom(Math.exp(-event.deltaY * 0.002), atY);
  }, { passive: false });

  var drag = null;
  view.addEventListener('pointerdown', function (event) {
    drag = { x: event.clientX, y: event.clientY, moved: 0 };
    view.classList.add('dragging');
  });
  window.addEventListener('pointermove', function (event) {
    if (!drag) {
      return;
    }
    var dx = event.clientX - drag.x;
    var dy = event.clientY - drag.y;
    drag.moved += Math.abs(dx) + Math.abs(dy);
    drag.x = event.clientX;
    drag.y = event.clientY;
    view.scrollLeft -= dx;
    pan(-dy);
  });
  window.addEventListener('pointerup', function () {
    view.classList.remove('dragging');
    window.setTimeout(function () {
      drag = null;
    }, 0);
  });

  view.addEventListener('click', function (event) {
    if (drag && drag.moved > 3) {
      return;
    }
    var target = event.target.closest('.datagram, .timer');
    if (target) {
      select(target);
    }
  });

  window.addEventListener('keydown', function (event) {
    var actions = {
      '+': function () { zoom(1.5, middle()); },
      '=': function () { zoom(1.5, middle()); },
      '-': function () { zoom(1 / 1.5, middle()); },
      '0': fit,
      'ArrowDown': function () { pan(60); },
      'ArrowUp': function () { pan(-60); },
      'PageDown': function () { pan(height - top - 40); },
      'PageUp': function () { pan(-(height - top - 40)); }
    };
    if (actions[event.key]) {
      event.preventDefault();
      actions[event.key]();
    }
  });
  document.getElementById('zoom-in').addEventListener('click', function () {
    zoom(1.5, middle());
  });
  document.getElementById('zoom-out').addEventListener('click', function () {
    zoom(1 / 1.5, middle());
  });
  document.getElementById('fit').addEventListener('click', fit);
  window.addEventListener('resize', update);

  // Start at the scale the SVG was drawn at, where labels clear each other, unless the whole
  // window fits the page at a larger one.
  height = Math.max(view.clientHeight, top + bottomMargin + 100);
  state.scale = Math.max(state.scale, fitScale());
  render();

  // A link to page.html#select=17 opens with arrow 17 selected, brought into view if it is
  // not.
  var wanted = /^#select=(\d+)$/.exec(window.location.hash);
  if (wanted) {
    var chosen = svg.querySelector('#datagrams g.datagram[data-i="' + wanted[1] + '"]');
    if (chosen) {
      select(chosen);
      var arrow = chosen.querySelector('line.arrow');
      var bottom = state.t0 + (height - top - bottomMargin) / state.scale;
      if (Number(arrow.dataset.t1) < state.t0 || Number(arrow.dataset.t2) > bottom) {
        state.t0 = Number(arrow.dataset.t1) - (height - top) / state.scale / 3;
        pan(0);
        render();
      }
    }
  }

  document.getElementById('arrow-count').textContent = arrows.length;
  document.body.dataset.arrows = arrows.length;
  document.body.dataset.status = 'ready';
}());
