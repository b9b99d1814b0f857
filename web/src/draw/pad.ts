// The drawing pad: a square canvas drawn on with a mouse, a pen or a finger (pointer events), white round strokes on
// black like MNIST's digits. The canvas keeps its backing store at its displayed size times devicePixelRatio, so
// strokes stay sharp at any width; resizing keeps what was drawn (scaled).

export interface PadEvents {
  /** While a stroke is drawn (every pointer move). */
  onDraw(): void;
  /** A stroke ended. */
  onStrokeEnd(): void;
}

/** Stroke width as a fraction of the pad's side: MNIST digits are about 2.5 px thick in their 20 px box. */
const STROKE = 1 / 14;

export class Pad {
  private readonly ctx: CanvasRenderingContext2D;
  private last: { x: number; y: number } | null = null;
  private pointer: number | null = null;
  private drawn = false;

  constructor(readonly canvas: HTMLCanvasElement, private readonly events: PadEvents) {
    this.ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', (e) => this.up(e));
    canvas.addEventListener('pointercancel', (e) => this.up(e));
    new ResizeObserver(() => this.fit()).observe(canvas);
    this.fit();
  }

  /** Whether anything was drawn since the last clear. */
  get empty(): boolean {
    return !this.drawn;
  }

  clear(): void {
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.drawn = false;
  }

  /** The pixels as drawn (RGBA). */
  image(): ImageData {
    return this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
  }

  /** Match the backing store to the displayed size (a phone's width, a high-DPI screen), keeping the drawing. */
  private fit(): void {
    const side = Math.max(1, Math.round(this.canvas.clientWidth * (window.devicePixelRatio || 1)));
    if (side === this.canvas.width && side === this.canvas.height) return;
    const old = this.drawn ? this.copy() : null;
    this.canvas.width = this.canvas.height = side;
    this.clear();
    if (old) {
      this.ctx.drawImage(old, 0, 0, side, side);
      this.drawn = true;
    }
  }

  private copy(): HTMLCanvasElement {
    const c = document.createElement('canvas');
    c.width = this.canvas.width;
    c.height = this.canvas.height;
    c.getContext('2d')!.drawImage(this.canvas, 0, 0);
    return c;
  }

  private at(e: PointerEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * this.canvas.width, y: ((e.clientY - r.top) / r.height) * this.canvas.height };
  }

  private down(e: PointerEvent): void {
    if (this.pointer !== null || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    this.pointer = e.pointerId;
    this.canvas.setPointerCapture(e.pointerId);
    this.last = this.at(e);
    this.line(this.last, this.last); // a dot for a tap
    this.events.onDraw();
  }

  private move(e: PointerEvent): void {
    if (e.pointerId !== this.pointer || !this.last) return;
    e.preventDefault();
    // Coalesced events: every sample the pointer reported since the last frame, for smooth fast strokes.
    const samples = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
    for (const s of samples.length ? samples : [e]) {
      const p = this.at(s);
      this.line(this.last, p);
      this.last = p;
    }
    this.events.onDraw();
  }

  private up(e: PointerEvent): void {
    if (e.pointerId !== this.pointer) return;
    this.pointer = null;
    this.last = null;
    this.events.onStrokeEnd();
  }

  private line(a: { x: number; y: number }, b: { x: number; y: number }): void {
    const c = this.ctx;
    c.strokeStyle = '#fff';
    c.lineWidth = this.canvas.width * STROKE;
    c.lineCap = 'round';
    c.lineJoin = 'round';
    c.beginPath();
    c.moveTo(a.x, a.y);
    c.lineTo(b.x, b.y);
    c.stroke();
    this.drawn = true;
  }
}
