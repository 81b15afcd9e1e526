/** The recipes by name (`selfsup train --recipe <name>`). */
import type { Recipe } from './recipe';
import { simclr } from './recipes/simclr';
import { vicreg } from './recipes/vicreg';
import { barlowtwins } from './recipes/barlowtwins';
import { swav } from './recipes/swav';
import { msn, pmsn } from './recipes/msn';
import { ijepa } from './recipes/ijepa';
import { mae } from './recipes/mae';

export const RECIPES: Record<string, Recipe> = { simclr, vicreg, barlowtwins, swav, msn, pmsn, ijepa, mae };
