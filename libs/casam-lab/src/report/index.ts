/** Report helpers: a bitmap font, a raster canvas and simple PNG-ready charts. */
export * from './bitmap-font';
export * from './raster-canvas';
export * from './raster-charts';
